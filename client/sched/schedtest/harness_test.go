package schedtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/client/sched/schedtest"
)

// TestSharedSwarm runs ten clients in one virtual world: they play the same
// track one after the other, and each client serves the others what it
// has. The first gets everything from the origin; the later ones get most
// bytes from earlier listeners, and nobody stalls.
func TestSharedSwarm(t *testing.T) {
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	const clients, chunks = 10, 20
	sizes := make([]int, chunks)
	for i := range sizes {
		sizes[i] = 16 << 10
	}
	tr := sched.TrackInfo{ID: "hit", ChunkSizes: sizes, BitrateBps: 160_000} // 16.4 s
	var h *schedtest.Harness
	for c := range clients {
		s, err := sched.New(sched.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if c == 0 {
			h = schedtest.New(s, start)
		} else {
			h.AddClient(s)
		}
	}
	h.NoLog = true
	h.AddSource(&schedtest.Source{Info: sched.SourceInfo{ID: "origin", Kind: sched.KindOrigin, RTT: 60 * time.Millisecond, BytesPerSecond: 5_000_000}}, true)
	for c := range clients {
		h.AddSource(&schedtest.Source{
			Info:   sched.SourceInfo{ID: sched.SourceID(fmt.Sprintf("peer%d", c)), Kind: sched.KindPeer, RTT: 40 * time.Millisecond, BytesPerSecond: 200_000},
			Client: c + 1,
			Has:    func(track string, chunk int) bool { return h.Has(c, track, chunk) },
		}, false)
		at := start.Add(time.Duration(c) * 20 * time.Second)
		// Each client looks the track up a while before playing it, as a
		// queued track would be.
		q := at.Add(-5 * time.Second)
		if q.Before(start) {
			q = start
		}
		h.PostTo(c, sched.Queue{At: q, Next: []sched.TrackInfo{tr}})
		h.PostTo(c, sched.Play{At: at, Track: tr})
	}
	if err := h.Run(time.Duration(clients)*20*time.Second + time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(h.Finished) != clients {
		t.Fatalf("Finished plays = %d; want %d", len(h.Finished), clients)
	}
	for _, f := range h.Finished {
		st := f.Stats
		if st.Stalls != 0 {
			t.Errorf("client %d: %d stalls; want 0", f.Client, st.Stalls)
		}
		if f.Client > 0 && st.Bytes[sched.KindOrigin] > st.TotalBytes()/5 {
			t.Errorf("client %d: origin bytes %d of %d; want at most 20%%", f.Client, st.Bytes[sched.KindOrigin], st.TotalBytes())
		}
		t.Logf("client %d: start %v, bytes cache/peer/origin %v, origin requests %v", f.Client, st.StartLatency, st.Bytes, st.OriginRequests)
	}
}
