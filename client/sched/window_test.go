package sched_test

import (
	"sort"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
)

// TestWindowFollowsBandwidthDelay downloads a whole track (buffer-ahead the
// track's length, as a prefetch or download does) from one peer on a 40 ms,
// 50 Mbit/s path in virtual time. The requests in flight follow the path's
// bandwidth-delay product: the track arrives within 15% of the link's
// floor (one round trip plus the bytes at the link rate), and the bytes in
// flight never pass twice the product plus two chunks.
func TestWindowFollowsBandwidthDelay(t *testing.T) {
	const (
		rtt    = 40 * time.Millisecond
		rate   = 6_250_000
		chunks = 300
	)
	h := newHarness(t, sched.Config{BufferAhead: 400 * time.Second})
	p := peerSrc("p", rtt, rate, true)
	p.BytesPerSecond, p.RTT = rate, rtt
	h.AddSource(p, true)
	tr := track("t", chunks)
	found(h, "t", p)
	h.Post(sched.Play{At: h.Now, Track: tr})
	start := h.Now
	run(t, h, 5*time.Second)

	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	var last time.Time
	for _, l := range h.Requests(nil) {
		r := l.Action.(sched.Request)
		at, ok := h.Arrival(r.ID)
		if !ok {
			t.Fatalf("request %d (chunk %d) never arrived", r.ID, r.Chunk)
		}
		edges = append(edges, edge{l.At, r.Bytes}, edge{at, -r.Bytes})
		if at.After(last) {
			last = at
		}
	}
	if got := len(h.Requests(nil)); got != chunks {
		t.Errorf("%d requests; want %d (one per chunk)", got, chunks)
	}
	floor := rtt + time.Duration(float64(chunks*chunk)/rate*float64(time.Second))
	if took := last.Sub(start); took > floor*115/100 {
		t.Errorf("whole track in %v; want within 15%% of the floor %v", took, floor)
	}
	sort.SliceStable(edges, func(i, j int) bool { return edges[i].at.Before(edges[j].at) })
	inflight, peak := 0, 0
	for _, e := range edges {
		inflight += e.delta
		peak = max(peak, inflight)
	}
	bdp := int(float64(rate) * rtt.Seconds())
	if peak > 2*bdp+2*chunk {
		t.Errorf("peak in flight %d B; want at most twice the bandwidth-delay product %d B plus two chunks", peak, bdp)
	}
}

// TestWindowHalvesOnBusy: a peer that refuses a request for load has its
// window halved, so fewer requests wait at it afterwards.
func TestWindowHalvesOnBusy(t *testing.T) {
	h := newHarness(t, sched.Config{BufferAhead: 400 * time.Second, BusyBackoff: time.Millisecond})
	p := peerSrc("p", 40*time.Millisecond, 6_250_000, true)
	p.Fail = func(_ sched.Request, n int) sched.FailReason {
		if n == 60 {
			return sched.FailBusy
		}
		return 0
	}
	h.AddSource(p, true)
	found(h, "t", p)
	h.Post(sched.Play{At: h.Now, Track: track("t", 300)})
	run(t, h, 5*time.Second)
	reqs := h.Requests(nil)
	var failAt time.Time
	for _, d := range h.Delivered {
		if f, ok := d.Event.(sched.RequestFailed); ok && f.Reason == sched.FailBusy {
			failAt = f.At
		}
	}
	if failAt.IsZero() {
		t.Fatal("the peer never refused")
	}
	// Requests in flight at each request's sending (itself included), the
	// peak before the refusal and the peak in the next round trip.
	var before, after int
	for _, l := range reqs {
		n := 0
		for _, m := range reqs {
			a, ok := h.Arrival(m.Action.(sched.Request).ID)
			if !m.At.After(l.At) && (!ok || a.After(l.At)) {
				n++
			}
		}
		switch {
		case l.At.Before(failAt):
			before = max(before, n)
		case l.At.Before(failAt.Add(40 * time.Millisecond)):
			after = max(after, n)
		}
	}
	if before < 8 || after > before/2+2 {
		t.Errorf("peak in flight %d before the refusal, %d in the round trip after; want a grown window (>= 8) halved", before, after)
	}
}

// TestBusyBurstBacksOffOnce: a peer that refuses a window's worth of
// requests at once (a server giving up its upload slot) is backed off once,
// for Config.BusyBackoff, not once per refused request.
func TestBusyBurstBacksOffOnce(t *testing.T) {
	h := newHarness(t, sched.Config{BufferAhead: 400 * time.Second})
	p := peerSrc("p", 40*time.Millisecond, 6_250_000, true)
	p.Fail = func(_ sched.Request, n int) sched.FailReason {
		if n >= 60 && n < 80 {
			return sched.FailBusy
		}
		return 0
	}
	h.AddSource(p, true)
	found(h, "t", p)
	h.Post(sched.Play{At: h.Now, Track: track("t", 300)})
	run(t, h, 10*time.Second)
	var lastFail time.Time
	for _, d := range h.Delivered {
		if f, ok := d.Event.(sched.RequestFailed); ok && f.Reason == sched.FailBusy {
			lastFail = f.At
		}
	}
	var next time.Time
	for _, l := range h.Requests(nil) {
		if l.At.After(lastFail) {
			next = l.At
			break
		}
	}
	if next.IsZero() || next.Sub(lastFail) > 1100*time.Millisecond {
		t.Errorf("next request %v after the burst of refusals; want about BusyBackoff (1 s)", next.Sub(lastFail))
	}
}
