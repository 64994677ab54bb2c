package sched_test

import (
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
)

// TestDroppedChunkRefetchedWhenNeeded: a chunk the driver dropped behind the
// playhead is not fetched again until a seek back needs it, and then from
// the cache when the driver says the cache holds it; one dropped ahead of
// the playhead is fetched again at once.
func TestDroppedChunkRefetchedWhenNeeded(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	h.Post(sched.Play{At: t0, Track: track("t", 40)}) // 0.82 s a chunk
	run(t, h, 5*time.Second)
	requests := func(chunk int) []sched.Request {
		var out []sched.Request
		for _, l := range h.Requests(func(_ time.Time, r sched.Request) bool { return r.Chunk == chunk }) {
			out = append(out, l.Action.(sched.Request))
		}
		return out
	}
	h.Post(sched.Dropped{At: h.Now, Chunk: 1, Cached: true})
	h.Post(sched.Dropped{At: h.Now, Chunk: 10})
	run(t, h, time.Second)
	if n := len(requests(1)); n != 1 {
		t.Errorf("chunk 1, dropped behind the playhead: %d requests; want the first only", n)
	}
	if r := requests(10); len(r) != 2 || r[1].Source != "o" {
		t.Errorf("chunk 10, dropped ahead of the playhead: requests %+v; want a second from the origin", r)
	}
	h.Post(sched.Seek{At: h.Now, Offset: chunk + 10})
	run(t, h, time.Second)
	if r := requests(1); len(r) != 2 || r[1].Source != sched.CacheSource {
		t.Errorf("chunk 1 after a seek back: requests %+v; want a second, from the cache", r)
	}
	if pos, _ := h.S.Position(h.Now); pos <= chunk+10 {
		t.Errorf("playhead at %d after the seek back; want it moving past %d", pos, chunk+10)
	}
	if _, err := h.S.Step(sched.Dropped{At: h.Now, Chunk: 99}, nil); err == nil {
		t.Error("Dropped of chunk 99 of 40 accepted")
	}
}

// TestEvictedCacheChunkFetchedFromNetwork: a chunk the track info marks
// cached but the cache no longer holds is asked of the cache once, then of
// the origin; the cache is not asked again in a loop.
func TestEvictedCacheChunkFetchedFromNetwork(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.CacheMiss = func(_ string, chunk int) bool { return chunk == 3 }
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	tr := track("t", 10)
	tr.Cached = make([]bool, 10)
	for i := range tr.Cached {
		tr.Cached[i] = true
	}
	h.Post(sched.Play{At: t0, Track: tr})
	run(t, h, 20*time.Second)
	var fromCache, fromOrigin int
	for _, l := range h.Requests(func(_ time.Time, r sched.Request) bool { return r.Chunk == 3 }) {
		if l.Action.(sched.Request).Source == sched.CacheSource {
			fromCache++
		} else {
			fromOrigin++
		}
	}
	if fromCache != 1 || fromOrigin != 1 {
		t.Errorf("chunk 3 asked of the cache %d times, of the origin %d; want once each", fromCache, fromOrigin)
	}
	if st := h.S.Stats(); !st.Ended || st.Stalls != 0 {
		t.Errorf("stats %+v; want the play ended without a stall", st)
	}
	if tr.Cached[3] != true {
		t.Error("the scheduler changed the driver's Cached slice")
	}
}
