package schedtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/client/sched/schedtest"
)

// BenchmarkWorld plays one 200-chunk track on each of 1000 clients that
// start one second apart and serve each other, with one origin.
// go test -run '^$' -bench World -benchtime 1x ./client/sched/schedtest/
func BenchmarkWorld(b *testing.B) {
	const clients, chunks = 1000, 200
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	sizes := make([]int, chunks)
	for i := range sizes {
		sizes[i] = 16 << 10
	}
	tr := sched.TrackInfo{ID: "hit", ChunkSizes: sizes, BitrateBps: 160_000}
	for b.Loop() {
		var h *schedtest.Harness
		for c := range clients {
			s, err := sched.New(sched.Config{})
			if err != nil {
				b.Fatal(err)
			}
			if c == 0 {
				h = schedtest.New(s, start)
			} else {
				h.AddClient(s)
			}
		}
		h.NoLog = true
		h.AddSource(&schedtest.Source{Info: sched.SourceInfo{ID: "origin", Kind: sched.KindOrigin, RTT: 60 * time.Millisecond, BytesPerSecond: 50_000_000}}, true)
		for c := range clients {
			h.AddSource(&schedtest.Source{
				Info:   sched.SourceInfo{ID: sched.SourceID(fmt.Sprintf("peer%d", c)), Kind: sched.KindPeer, RTT: 40 * time.Millisecond, BytesPerSecond: 200_000},
				Client: c + 1,
				Has:    func(track string, chunk int) bool { return h.Has(c, track, chunk) },
			}, false)
			h.PostTo(c, sched.Play{At: start.Add(time.Duration(c) * time.Second), Track: tr})
		}
		if err := h.Run(time.Duration(clients)*time.Second + 5*time.Minute); err != nil {
			b.Fatal(err)
		}
		var stalls int
		var bytes [3]int64
		for _, f := range h.Finished {
			stalls += f.Stats.Stalls
			for k := range bytes {
				bytes[k] += f.Stats.Bytes[k]
			}
		}
		b.Logf("events by kind: %v", h.Steps)
		b.ReportMetric(float64(len(h.Finished)), "finished")
		b.ReportMetric(float64(stalls), "stalls")
		b.ReportMetric(float64(bytes[sched.KindOrigin])/float64(bytes[0]+bytes[1]+bytes[2])*100, "origin%")
	}
}
