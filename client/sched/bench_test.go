package sched_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/client/sched/schedtest"
)

// BenchmarkPlayTrack plays a 200-chunk track at speed 8 from ten peers and
// an origin through the virtual-time harness (harness costs included).
// go test -run '^$' -bench PlayTrack -benchmem ./client/sched/
func BenchmarkPlayTrack(b *testing.B) {
	steps := 0
	for b.Loop() {
		s, err := sched.New(sched.Config{Speed: 8})
		if err != nil {
			b.Fatal(err)
		}
		h := schedtest.New(s, t0)
		h.AddSource(originSrc("o", 40*time.Millisecond, false), true)
		var peers []*schedtest.Source
		for i := range 10 {
			p := peerSrc(fmt.Sprintf("p%d", i), time.Duration(10+10*i)*time.Millisecond, int64(100_000*(i+1)), i < 3)
			h.AddSource(p, p.Info.Connected)
			peers = append(peers, p)
		}
		found(h, "t", peers...)
		h.Post(sched.Play{At: t0, Track: track("t", 200)})
		if err := h.Run(time.Minute); err != nil {
			b.Fatal(err)
		}
		if len(h.Finished) != 1 {
			b.Fatal("track did not finish")
		}
		steps += len(h.Delivered)
	}
	b.ReportMetric(float64(steps)/float64(b.N), "steps/op")
}
