package sched_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
)

// FuzzStep feeds the scheduler event sequences decoded from random bytes
// (plays, seeks, arrivals and failures of outstanding requests, timers,
// source updates, lookups, queues, stops) and checks that it never panics,
// that every Request names a known chunk and source, and that its count of
// requests in flight matches the driver's.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 10, 3, 3, 3, 1, 4, 3, 3, 2, 3, 3, 9})
	f.Add([]byte{5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Add([]byte{6, 7, 0, 200, 2, 2, 2, 2, 8, 0, 3, 3, 3, 3, 3, 3})
	f.Fuzz(fuzzOnce)
}

func fuzzOnce(t *testing.T, data []byte) {
	{
		s, err := sched.New(sched.Config{MaxOutstandingPerSource: 2, Speed: 4, GiveUpAfter: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		tracks := map[string]int{}
		var made []sched.TrackInfo
		mk := func(n int, cachedMask byte) sched.TrackInfo {
			id := fmt.Sprintf("t%d", len(made))
			tr := track(id, n)
			tr.Cached = make([]bool, n)
			for i := range tr.Cached {
				tr.Cached[i] = cachedMask&(1<<(i%8)) != 0 && cachedMask&0x80 != 0
			}
			tracks[id] = n
			made = append(made, tr)
			return tr
		}
		pick := func(b byte) string {
			if len(made) == 0 {
				return "none"
			}
			return made[int(b)%len(made)].ID
		}
		var queued *sched.TrackInfo
		sources := map[sched.SourceID]bool{sched.CacheSource: true}
		outstanding := map[sched.ReqID]bool{}
		var order []sched.ReqID
		var timers []sched.ArmTimer
		now := t0
		var out []sched.Action
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		for steps := 0; len(data) > 0 && steps < 500; steps++ {
			op := next()
			now = now.Add(time.Duration(next()) * 7 * time.Millisecond)
			var ev sched.Event
			switch op % 16 {
			case 0:
				if b := next(); b%2 == 0 && queued != nil {
					ev = sched.Play{At: now, Track: *queued, StartOffset: int64(b) * 100}
				} else {
					n := int(next()%40) + 1
					ev = sched.Play{At: now, Track: mk(n, next()), StartOffset: int64(next()) * 1000}
				}
			case 1:
				ev = sched.Seek{At: now, Offset: int64(next()) * 3000}
			case 2, 3:
				if len(order) > 0 {
					id := order[int(next())%len(order)]
					if op%16 == 2 {
						ev = sched.ChunkArrived{At: now, Req: id, Bytes: chunk}
					} else {
						ev = sched.RequestFailed{At: now, Req: id, Reason: sched.FailReason(next()%6 + 1)}
					}
				}
			case 4:
				if len(timers) > 0 {
					tm := timers[0]
					timers = timers[1:]
					if tm.At.After(now) {
						now = tm.At
					}
					ev = sched.TimerFired{At: now, Timer: tm.Timer}
				}
			case 5:
				id := sched.SourceID(fmt.Sprintf("o%d", next()%2))
				sources[id] = true
				ev = sched.SourceUpdate{At: now, Source: sched.SourceInfo{ID: id, Kind: sched.KindOrigin, RTT: time.Duration(next()) * time.Millisecond, BytesPerSecond: int64(next()) * 10_000}}
			case 6:
				var infos []sched.SourceInfo
				for range next() % 4 {
					id := sched.SourceID(fmt.Sprintf("p%d", next()%5))
					sources[id] = true
					infos = append(infos, sched.SourceInfo{ID: id, Kind: sched.KindPeer, Connected: next()%2 == 0, RTT: time.Duration(next()) * time.Millisecond, BytesPerSecond: int64(next()) * 5_000})
				}
				ev = sched.PeersFound{At: now, Track: pick(next()), Sources: infos}
			case 7:
				tr := mk(int(next()%20)+1, next())
				queued = &tr
				ev = sched.Queue{At: now, Next: []sched.TrackInfo{tr}}
			case 8:
				ev = sched.PlayerPosition{At: now, Offset: int64(next()) * 2000}
			case 9:
				ev = sched.Stop{At: now}
			case 10:
				id := sched.SourceID(fmt.Sprintf("p%d", next()%5))
				sources[id] = true
				ev = sched.SourceUpdate{At: now, Source: sched.SourceInfo{ID: id, Kind: sched.KindPeer, Connected: next()%2 == 0}}
			case 11:
				ev = sched.Pause{At: now}
			case 12:
				ev = sched.Resume{At: now}
			case 13:
				ev = sched.Show{At: now, Track: pick(next())}
			case 14:
				ev = sched.RoutingGrew{At: now}
			case 15:
				ev = sched.Dropped{At: now, Chunk: int(next() % 40), Cached: next()%2 == 0}
			}
			if ev == nil {
				continue
			}
			out, err = s.Step(ev, out[:0])
			if err != nil {
				continue // bad events are refused, not fatal
			}
			if r, ok := ev.(sched.ChunkArrived); ok {
				delete(outstanding, r.Req)
			}
			if r, ok := ev.(sched.RequestFailed); ok {
				delete(outstanding, r.Req)
			}
			for _, a := range out {
				switch a := a.(type) {
				case sched.Request:
					if n, ok := tracks[a.Track]; !ok || a.Chunk < 0 || a.Chunk >= n {
						t.Fatalf("Request %+v for an unknown chunk", a)
					}
					if !sources[a.Source] {
						t.Fatalf("Request %+v to an unknown source", a)
					}
					outstanding[a.ID] = true
				case sched.Cancel:
					delete(outstanding, a.Req)
				case sched.ArmTimer:
					timers = append(timers, a)
				}
			}
			order = order[:0]
			for id := range outstanding {
				order = append(order, id)
			}
			sortIDs(order)
			if got := s.Outstanding(); got != len(outstanding) {
				t.Fatalf("after %T: Outstanding() = %d; driver counts %d", ev, got, len(outstanding))
			}
		}
	}
}

func sortIDs(ids []sched.ReqID) {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
}
