package sched_test

import (
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/client/sched/schedtest"
)

// lookupTimes returns when client 0 sent FindPeers for track.
func lookupTimes(h *schedtest.Harness, track string) []time.Duration {
	var out []time.Duration
	for _, l := range h.Log {
		if f, ok := l.Action.(sched.FindPeers); ok && l.Client == 0 && f.Track == track {
			out = append(out, l.At.Sub(t0))
		}
	}
	return out
}

// TestLookupRetriedWithBackoff: a lookup that finds no one is retried while
// the track plays, 0.5 s after the answer and doubling to 8 s; once the
// holder is findable the next retry finds it and the peer serves.
func TestLookupRetriedWithBackoff(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.DHTDelay = 100 * time.Millisecond
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	p := peerSrc("p", 10*time.Millisecond, 1_000_000, false)
	p.Hidden = true
	h.AddSource(p, false)
	h.Post(sched.Play{At: t0, Track: track("t", 200)}) // 164 s
	run(t, h, 30*time.Second)
	got := lookupTimes(h, "t")
	// Sent at 0; each answer 0.1 s later; retries 0.5, 1, 2, 4, 8, 8 s after.
	want := []time.Duration{0, 600, 1700, 3800, 7900, 16000, 24100}
	if len(got) != len(want) {
		t.Fatalf("lookups at %v; want at %v ms", got, want)
	}
	for i := range want {
		if d := got[i] - want[i]*time.Millisecond; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("lookups at %v; want at %v ms", got, want)
		}
	}
	p.Hidden = false
	run(t, h, 10*time.Second)
	if n := len(h.Requests(func(_ time.Time, r sched.Request) bool { return r.Source == "p" })); n == 0 {
		t.Errorf("no request to the peer after it became findable; lookups at %v", lookupTimes(h, "t"))
	}
	n := len(lookupTimes(h, "t"))
	run(t, h, 30*time.Second)
	if m := len(lookupTimes(h, "t")); m != n {
		t.Errorf("%d more lookups after the holder was found; want none", m-n)
	}
}

// TestRoutingGrewRetriesAtOnce: when the routing table grows, a lookup that
// found nothing is retried at once, not at its backoff time.
func TestRoutingGrewRetriesAtOnce(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	h.Post(sched.Play{At: t0, Track: track("t", 200)})
	run(t, h, 20*time.Second) // lookups at 0, 1, 2, 4, 8, 16 s: next at 24.5 s
	before := len(lookupTimes(h, "t"))
	grew := h.Now
	h.Post(sched.RoutingGrew{At: grew})
	run(t, h, 100*time.Millisecond)
	got := lookupTimes(h, "t")
	if len(got) != before+1 || got[len(got)-1] != grew.Sub(t0) {
		t.Errorf("lookups %v; want one more at %v, when the routing table grew", got, grew.Sub(t0))
	}
}

// TestLookupNotRetriedForTracksNotWanted: after Stop, nothing is looked up
// again; a shown track is looked up, and retried while it stays shown.
func TestLookupNotRetriedForTracksNotWanted(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	h.Post(sched.Play{At: t0, Track: track("t", 200)})
	run(t, h, 2*time.Second)
	h.Post(sched.Stop{At: h.Now})
	run(t, h, 0)
	n := len(lookupTimes(h, "t"))
	run(t, h, time.Minute)
	if m := len(lookupTimes(h, "t")); m != n {
		t.Errorf("%d lookups of a stopped track; want none", m-n)
	}
	h.Post(sched.Show{At: h.Now, Track: "shown"})
	run(t, h, 20*time.Second)
	if got := lookupTimes(h, "shown"); len(got) < 4 {
		t.Errorf("shown track looked up at %v; want a lookup at once and retries", got)
	}
	run(t, h, 2*time.Minute)
	n = len(lookupTimes(h, "shown"))
	run(t, h, 5*time.Minute)
	if m := len(lookupTimes(h, "shown")); m != n {
		t.Errorf("%d lookups of a track shown more than 2 minutes ago; want none", m-n)
	}
}

// TestGiveUpWithNothingInFlight: with no source at all the play has nothing
// in flight; it still gives up on a timer, GiveUpAfter after Play.
func TestGiveUpWithNothingInFlight(t *testing.T) {
	h := newHarness(t, sched.Config{GiveUpAfter: 3 * time.Second})
	h.Post(sched.Play{At: t0, Track: track("t", 20)})
	run(t, h, 10*time.Second)
	if len(h.GaveUp) != 1 || h.GaveUp[0].Stuck != 3*time.Second || h.GaveUp[0].Track != "t" {
		t.Fatalf("GaveUp = %+v; want one, stuck 3 s", h.GaveUp)
	}
	for _, l := range h.Log {
		if _, ok := l.Action.(sched.GaveUp); ok && l.At != t0.Add(3*time.Second) {
			t.Errorf("gave up at %v; want at +3 s", l.At.Sub(t0))
		}
	}
	if _, ok := h.S.Position(h.Now); ok {
		t.Error("a play that gave up is still current")
	}
}

// TestGiveUpAfterStall: a play whose origin stops serving plays its buffer,
// stalls, and gives up GiveUpAfter after the stall began, not before.
func TestGiveUpAfterStall(t *testing.T) {
	h := newHarness(t, sched.Config{GiveUpAfter: 5 * time.Second})
	o := originSrc("o", 20*time.Millisecond, true)
	o.Fail = func(r sched.Request, _ int) sched.FailReason {
		if r.Chunk >= 4 {
			return sched.FailGone
		}
		return 0
	}
	h.AddSource(o, true)
	h.Post(sched.Play{At: t0, Track: track("t", 20)})
	run(t, h, 30*time.Second)
	if len(h.GaveUp) != 1 {
		t.Fatalf("GaveUp = %+v; want one", h.GaveUp)
	}
	g := h.GaveUp[0]
	if g.Stuck != 5*time.Second || g.Stats.Stalls != 1 || g.Stats.Bytes[sched.KindOrigin] != 4*chunk {
		t.Errorf("GaveUp = %+v; want stuck 5 s after one stall, 4 chunks delivered", g)
	}
	if n := h.S.Outstanding(); n != 0 {
		t.Errorf("%d requests in flight after giving up; want none", n)
	}
}

// TestOriginBackResumesAtOnce: an origin down for 20 s comes back while the
// play is stalled but still inside its give-up time: the play resumes within
// the origin backoff cap (2 s), not after a long backoff.
func TestOriginBackResumesAtOnce(t *testing.T) {
	h := newHarness(t, sched.Config{GiveUpAfter: 30 * time.Second})
	o := originSrc("o", 20*time.Millisecond, true)
	down := func(at time.Time) bool { return at.After(t0.Add(time.Second)) && at.Before(t0.Add(21*time.Second)) }
	o.Fail = func(r sched.Request, _ int) sched.FailReason {
		if down(h.Now) {
			return sched.FailGone
		}
		return 0
	}
	h.AddSource(o, true)
	h.Post(sched.Play{At: t0, Track: track("t", 60)})
	run(t, h, 40*time.Second)
	if len(h.GaveUp) != 0 {
		t.Fatalf("gave up: %+v", h.GaveUp)
	}
	var firstAfter time.Time
	for _, d := range h.Delivered {
		if a, ok := d.Event.(sched.ChunkArrived); ok && a.At.After(t0.Add(21*time.Second)) {
			firstAfter = a.At
			break
		}
	}
	if firstAfter.IsZero() || firstAfter.Sub(t0.Add(21*time.Second)) > 2100*time.Millisecond {
		t.Errorf("first chunk after the origin came back at +%v; want within 2.1 s of +21 s", firstAfter.Sub(t0))
	}
}

// TestPeerBackAfterRoutingGrew: the only peer, without an origin, fails
// (gone) while it is away and is backed off for longer each time; when the
// routing table grows (it rejoined) it is asked again at once, not at the
// end of its backoff.
func TestPeerBackAfterRoutingGrew(t *testing.T) {
	h := newHarness(t, sched.Config{})
	p := peerSrc("p", 10*time.Millisecond, 1_000_000, true)
	away := true
	p.Fail = func(sched.Request, int) sched.FailReason {
		if away {
			return sched.FailGone
		}
		return 0
	}
	h.AddSource(p, true)
	found(h, "t", p)
	h.Post(sched.Play{At: t0, Track: track("t", 100)})
	run(t, h, 40*time.Second) // failures at about 0, 1, 3, 7, 15, 31 s: the next in 32 s
	away = false
	back := h.Now
	h.Post(sched.RoutingGrew{At: back})
	run(t, h, time.Second)
	var first time.Time
	for _, l := range h.Requests(func(at time.Time, r sched.Request) bool { return !at.Before(back) }) {
		first = l.At
		break
	}
	if first.IsZero() || first.Sub(back) > 50*time.Millisecond {
		t.Fatalf("first request after the routing table grew at +%v; want at once", first.Sub(t0))
	}
	if st := h.S.Stats(); !st.Started {
		t.Errorf("stats %+v; want the play started once the peer was back", st)
	}
}

// TestPlayLooksAgainWhenStale: a play starts with the holders a lookup
// found when the track was shown, and looks them up again at its start
// when that answer is older than LookupFresh (5 s), not when it is fresh.
func TestPlayLooksAgainWhenStale(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  int
	}{{"fresh", 2 * time.Second, 1}, {"stale", 10 * time.Second, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sched.Config{})
			h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
			h.AddSource(peerSrc("p", 10*time.Millisecond, 1_000_000, true), false)
			h.Post(sched.Show{At: t0, Track: "t"})
			run(t, h, tc.after)
			h.Post(sched.Play{At: h.Now, Track: track("t", 20)})
			run(t, h, time.Second)
			got := lookupTimes(h, "t")
			if len(got) != tc.want {
				t.Fatalf("lookups at %v; want %d", got, tc.want)
			}
			if tc.want == 2 && got[1] != tc.after {
				t.Errorf("second lookup at %v; want at the play's start, %v", got[1], tc.after)
			}
			if n := len(h.Requests(func(at time.Time, r sched.Request) bool { return r.Source == "p" && at.Sub(t0) == tc.after })); n == 0 {
				t.Errorf("no request to the known holder at the play's start")
			}
		})
	}
}

// TestChunksWaitForPendingLookup: a play that starts with no holder known
// looks its holders up; while that lookup is out (0.1 s here), the origin
// gets only the chunks whose deadline could not wait for it (LookupWait,
// 1 s): the rest go to the peer the lookup finds, not to the origin.
func TestChunksWaitForPendingLookup(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.DHTDelay = 100 * time.Millisecond
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	h.AddSource(peerSrc("p", 10*time.Millisecond, 2_000_000, false), false)
	h.Post(sched.Play{At: t0, Track: track("t", 40)})
	run(t, h, 20*time.Second)
	early := h.Requests(func(at time.Time, r sched.Request) bool {
		return r.Source == "o" && at.Sub(t0) < h.DHTDelay
	})
	if len(early) == 0 || len(early) > 3 {
		t.Errorf("%d origin requests before the lookup answered (%v); want the first one to three, whose deadlines are within the wait", len(early), early)
	}
	origin := h.Requests(func(_ time.Time, r sched.Request) bool { return r.Source == "o" })
	peer := h.Requests(func(_ time.Time, r sched.Request) bool { return r.Source == "p" })
	if len(peer) < 35 {
		t.Errorf("%d chunks asked of the peer, %d of the origin; want the peer to take almost all 40", len(peer), len(origin))
	}
}
