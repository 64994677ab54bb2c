package sched_test

import (
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/client/sched/schedtest"
)

// alwaysBusy refuses every request for load, as a peer whose upload slots
// are all taken.
func alwaysBusy(sched.Request, int) sched.FailReason { return sched.FailBusy }

// requestsByID indexes the requests the harness logged.
func requestsByID(h *schedtest.Harness) map[sched.ReqID]schedtest.Logged {
	out := map[sched.ReqID]schedtest.Logged{}
	for _, l := range h.Requests(nil) {
		out[l.Action.(sched.Request).ID] = l
	}
	return out
}

// TestBusyPeerSkippedAtOnce: the best peer answers every request Busy
// (its slots are taken by others); each refused chunk goes to the next
// best peer in the same instant, the origin is never needed, and the busy
// peer is asked again after BusyBackoff each time, not after a backoff
// that doubles with every refusal.
func TestBusyPeerSkippedAtOnce(t *testing.T) {
	h := newHarness(t, sched.Config{})
	o := originSrc("o", 40*time.Millisecond, true)
	best := peerSrc("best", 10*time.Millisecond, 1_000_000, true)
	best.Fail = alwaysBusy
	next := peerSrc("next", 30*time.Millisecond, 1_000_000, true)
	h.AddSource(o, true)
	h.AddSource(best, true)
	h.AddSource(next, true)
	found(h, "t", best, next)
	tr := track("t", 300)
	tr.Cached = make([]bool, 300)
	tr.Cached[0] = true // the start is not a race: every peer request is a chunk's only one
	h.Post(sched.Play{At: t0, Track: tr})
	run(t, h, 30*time.Second)

	reqs := requestsByID(h)
	soon := next.Info.RTT + 3*chunkXfer(next.Info.BytesPerSecond)
	busy := 0
	for _, d := range h.Delivered {
		f, ok := d.Event.(sched.RequestFailed)
		if !ok || f.Reason != sched.FailBusy {
			continue
		}
		busy++
		r := reqs[f.Req].Action.(sched.Request)
		// The next request for the chunk: to the next peer, as soon as
		// its window has room (a fresh path carries two chunks: room comes
		// with its answers, one round trip and a chunk's transfer or two
		// after the refusal at worst).
		var again *schedtest.Logged
		for _, l := range h.Requests(func(at time.Time, q sched.Request) bool { return !at.Before(f.At) && q.Chunk == r.Chunk }) {
			again = &l
			break
		}
		switch {
		case again == nil:
			t.Errorf("chunk %d refused Busy at +%v: never asked again", r.Chunk, f.At.Sub(t0))
		case again.Action.(sched.Request).Source != "next" || again.At.Sub(f.At) > soon:
			t.Errorf("chunk %d refused Busy at +%v: asked next of %s at +%v; want the next peer within %v", r.Chunk, f.At.Sub(t0), again.Action.(sched.Request).Source, again.At.Sub(t0), soon)
		}
	}
	if busy == 0 {
		t.Fatal("the busy peer was never asked")
	}
	if n := len(originRequests(h)); n != 0 {
		t.Errorf("%d origin requests; want none (the next peer has room)", n)
	}
	if st := h.S.Stats(); st.Stalls != 0 {
		t.Errorf("%d stalls; want none", st.Stalls)
	}
	// Asked again every BusyBackoff (1 s) while chunks come due (one each
	// 0.8 s of play): about 30 times in 30 s. A backoff doubling from 1 s
	// would have asked it 5 times (at 0, 1, 3, 7 and 15 s).
	times := map[time.Time]bool{}
	for _, l := range h.Requests(func(_ time.Time, q sched.Request) bool { return q.Source == "best" }) {
		times[l.At] = true
	}
	if len(times) < 20 {
		t.Errorf("the busy peer was asked at %d instants in 30 s; want at least 20 (once a BusyBackoff)", len(times))
	}
}

// TestBusyOnlyHolderLooksForMore: the lookup made while the track was on
// screen found only its first holder (a seeder); by the time it plays,
// another listener holds it too. The seeder answers Busy: the scheduler
// looks up the track's holders again in that instant and fetches from the
// new holder, instead of leaving the play on the origin.
func TestBusyOnlyHolderLooksForMore(t *testing.T) {
	h := newHarness(t, sched.Config{})
	o := originSrc("o", 40*time.Millisecond, true)
	seeder := peerSrc("seeder", 20*time.Millisecond, 1_000_000, true)
	seeder.Fail = alwaysBusy
	other := peerSrc("other", 20*time.Millisecond, 1_000_000, false)
	other.Hidden = true // not a holder yet
	h.AddSource(o, true)
	h.AddSource(seeder, true)
	h.AddSource(other, false)
	h.Post(sched.Show{At: t0, Track: "t"})
	run(t, h, time.Second) // the lookup found the seeder alone
	other.Hidden = false   // the other listener has played the track since
	playAt := h.Now
	h.Post(sched.Play{At: playAt, Track: track("t", 300)})
	run(t, h, 20*time.Second)

	var firstBusy time.Time
	for _, d := range h.Delivered {
		if f, ok := d.Event.(sched.RequestFailed); ok && f.Reason == sched.FailBusy {
			firstBusy = f.At
			break
		}
	}
	if firstBusy.IsZero() {
		t.Fatal("the seeder was never asked")
	}
	looked := false
	for _, l := range h.Log {
		if fp, ok := l.Action.(sched.FindPeers); ok && fp.Track == "t" && l.At.Equal(firstBusy) {
			looked = true
		}
	}
	if !looked {
		t.Errorf("no lookup of the track when its only known holder answered Busy (+%v after play)", firstBusy.Sub(playAt))
	}
	reqs := requestsByID(h)
	var fromOther, arrived int
	for _, d := range h.Delivered {
		a, ok := d.Event.(sched.ChunkArrived)
		if !ok || h.Cancelled(a.Req) {
			continue
		}
		arrived++
		if reqs[a.Req].Action.(sched.Request).Source == "other" {
			fromOther++
		}
	}
	if fromOther*2 < arrived {
		t.Errorf("the new holder delivered %d of %d chunks; want most of them", fromOther, arrived)
	}
	if st := h.S.Stats(); st.Stalls != 0 {
		t.Errorf("%d stalls; want none", st.Stalls)
	}
}

// TestBusyOnlyHolderIsWaitedFor: the only holder refuses its first
// requests for being busy, then serves. The chunks with room before their
// deadline wait the BusyBackoff for it instead of all going to the origin:
// the origin gets the refused chunks and the urgent ones, the peer the
// rest of the track.
func TestBusyOnlyHolderIsWaitedFor(t *testing.T) {
	h := newHarness(t, sched.Config{})
	o := originSrc("o", 40*time.Millisecond, true)
	p := peerSrc("p", 10*time.Millisecond, 1_000_000, true)
	refusals := 0
	p.Fail = func(sched.Request, int) sched.FailReason {
		if refusals < 2 {
			refusals++
			return sched.FailBusy
		}
		return 0
	}
	h.AddSource(o, true)
	h.AddSource(p, true)
	found(h, "t", p)
	tr := track("t", 40)
	h.Post(sched.Play{At: t0, Track: tr})
	run(t, h, 20*time.Second)
	origin := h.Requests(func(_ time.Time, r sched.Request) bool { return r.Source == "o" })
	if len(origin) > 8 {
		t.Errorf("%d of 40 chunks asked of the origin; want only the refused and urgent ones, the busy holder waited for", len(origin))
	}
	if refusals != 2 {
		t.Fatalf("%d refusals; the test wants the peer to refuse twice", refusals)
	}
}
