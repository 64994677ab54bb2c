package sched_test

import (
	"fmt"
	"time"

	"github.com/chorus-music/chorus/client/sched"
)

// A driver feeds events stamped with its clock and carries out the actions.
func Example() {
	s, err := sched.New(sched.Config{})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var out []sched.Action
	steps := []sched.Event{
		sched.SourceUpdate{At: now, Source: sched.SourceInfo{ID: "https://origin.example", Kind: sched.KindOrigin, RTT: 30 * time.Millisecond}},
		sched.PeersFound{At: now, Track: "track-1", Sources: []sched.SourceInfo{
			{ID: "peer-a", Kind: sched.KindPeer, Connected: true, RTT: 20 * time.Millisecond, BytesPerSecond: 1 << 20},
		}},
		sched.Play{At: now, Track: sched.TrackInfo{ID: "track-1", ChunkSizes: []int{16384, 16384, 16384}, BitrateBps: 160_000}},
	}
	for _, ev := range steps {
		if out, err = s.Step(ev, out[:0]); err != nil {
			panic(err)
		}
		for _, a := range out {
			switch a := a.(type) {
			case sched.Request:
				fmt.Printf("request %d: chunk %d from %s (%s)\n", a.ID, a.Chunk, a.Source, a.Reason)
			case sched.FindPeers:
				fmt.Printf("find peers for %s\n", a.Track)
			case sched.ArmTimer:
				fmt.Printf("timer %d at +%v\n", a.Timer, a.At.Sub(now))
			}
		}
	}
	// The peer wins the first-chunk race: the origin's request is cancelled.
	out, _ = s.Step(sched.ChunkArrived{At: now.Add(40 * time.Millisecond), Req: 1, Bytes: 16384}, out[:0])
	for _, a := range out {
		if c, ok := a.(sched.Cancel); ok {
			fmt.Printf("cancel request %d\n", c.Req)
		}
	}
	st := s.Stats()
	fmt.Printf("started after %v, peer bytes %d, origin bytes %d\n", st.StartLatency, st.Bytes[sched.KindPeer], st.Bytes[sched.KindOrigin])
	// Output:
	// find peers for track-1
	// request 1: chunk 0 from peer-a (peer)
	// request 2: chunk 0 from https://origin.example (first-chunk race)
	// request 3: chunk 1 from peer-a (peer)
	// request 4: chunk 2 from peer-a (peer)
	// timer 1 at +834.2ms
	// cancel request 2
	// started after 40ms, peer bytes 16384, origin bytes 0
}
