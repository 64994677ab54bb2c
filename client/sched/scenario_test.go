package sched_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/client/sched/schedtest"
)

// chunkXfer is the time to send one chunk at bps.
func chunkXfer(bps int64) time.Duration {
	return time.Duration(float64(chunk) / float64(bps) * float64(time.Second))
}

// TestSlowPeerFirstChunkHedge: with RaceHedged, a connected peer that does
// not answer makes the origin request go out at the last moment that still
// meets the start target: StartTarget - HedgeMargin - the origin's expected
// time (two RTT cold plus the chunk's transfer).
func TestSlowPeerFirstChunkHedge(t *testing.T) {
	cfg := sched.Config{FirstChunk: sched.RaceHedged}
	h := newHarness(t, cfg)
	o := originSrc("o", 40*time.Millisecond, false)
	p := peerSrc("p", 20*time.Millisecond, 1_000_000, true)
	p.ExtraDelay = 10 * time.Second // believed fast, answers far too late
	h.AddSource(o, true)
	h.AddSource(p, true)
	found(h, "t", p)
	h.Post(sched.Play{At: t0, Track: track("t", 20)})
	run(t, h, 2*time.Second)

	def := h.S.Config()
	od := 2*o.Info.RTT + chunkXfer(o.Info.BytesPerSecond)
	want := t0.Add(def.StartTarget - def.HedgeMargin - od)
	reqs := originRequests(h)
	if len(reqs) == 0 {
		t.Fatal("no origin request; want one for chunk 0")
	}
	first := reqs[0]
	r := first.Action.(sched.Request)
	if r.Chunk != 0 || r.Reason != sched.ReasonRace || !first.At.Equal(want) {
		t.Errorf("first origin request = chunk %d %q at +%v; want chunk 0 %q at +%v", r.Chunk, r.Reason, first.At.Sub(t0), sched.ReasonRace, want.Sub(t0))
	}
	st := h.S.Stats()
	if !st.Started || st.StartLatency > def.StartTarget {
		t.Errorf("start latency = %v (started %v); want at most %v", st.StartLatency, st.Started, def.StartTarget)
	}
}

// TestSlowPeerMidTrackHedge: a peer that stops answering for one chunk
// mid-track gets that chunk hedged to the origin exactly when the origin
// must be asked to still make the deadline, and playback does not stall.
func TestSlowPeerMidTrackHedge(t *testing.T) {
	h := newHarness(t, sched.Config{LowBuffer: 100 * time.Millisecond}) // keep the low-buffer rule out
	o := originSrc("o", 40*time.Millisecond, true)
	p := peerSrc("p", 20*time.Millisecond, 1_000_000, true)
	p.Delay = func(r sched.Request, _ int) time.Duration {
		if r.Chunk == 40 {
			return time.Hour
		}
		return 0
	}
	h.AddSource(o, true)
	h.AddSource(p, true)
	found(h, "t", p)
	h.Post(sched.Play{At: t0, Track: track("t", 60)})
	run(t, h, 2*time.Minute)

	st := h.S.Stats()
	if st.Stalls != 0 {
		t.Errorf("stalls = %d; want 0", st.Stalls)
	}
	var hedge *schedtest.Logged
	for _, l := range originRequests(h) {
		if r := l.Action.(sched.Request); r.Chunk == 40 {
			hedge = &l
			break
		}
	}
	if hedge == nil {
		t.Fatal("chunk 40 never asked from the origin")
	}
	start := t0.Add(st.StartLatency)
	deadline := start.Add(40 * chunkDur)
	od := o.Info.RTT + chunkXfer(o.Info.BytesPerSecond)
	want := deadline.Add(-h.S.Config().HedgeMargin - od)
	if d := hedge.At.Sub(want); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("origin request for chunk 40 at +%v; want +%v (±1ms)", hedge.At.Sub(t0), want.Sub(t0))
	}
	if r := hedge.Action.(sched.Request); r.Reason != sched.ReasonAtRisk {
		t.Errorf("reason = %q; want %q", r.Reason, sched.ReasonAtRisk)
	}
}

// TestFastPeerKeepsOriginIdle: a fast connected peer wins the first-chunk
// race, the origin's race request is cancelled, and the origin serves no
// byte of the track.
func TestFastPeerKeepsOriginIdle(t *testing.T) {
	h := newHarness(t, sched.Config{})
	o := originSrc("o", 50*time.Millisecond, false)
	p := peerSrc("p", 10*time.Millisecond, 2_000_000, true)
	h.AddSource(o, true)
	h.AddSource(p, true)
	found(h, "t", p)
	tr := track("t", 80)
	h.Post(sched.Play{At: t0, Track: tr})
	run(t, h, 2*time.Minute)

	if len(h.Finished) != 1 {
		t.Fatalf("Finished actions = %d; want 1", len(h.Finished))
	}
	st := h.Finished[0].Stats
	reqs := originRequests(h)
	if len(reqs) != 1 {
		t.Fatalf("origin requests = %d; want 1 (the race)", len(reqs))
	}
	if r := reqs[0].Action.(sched.Request); r.Chunk != 0 || r.Reason != sched.ReasonRace || !h.Cancelled(r.ID) {
		t.Errorf("origin request = %+v (cancelled %v); want chunk 0, race, cancelled", r, h.Cancelled(r.ID))
	}
	if st.Bytes[sched.KindOrigin] != 0 || st.Bytes[sched.KindPeer] != int64(80*chunk) {
		t.Errorf("bytes by kind = %v; want origin 0, peer %d", st.Bytes, 80*chunk)
	}
	if st.Stalls != 0 || st.StartLatency > 100*time.Millisecond {
		t.Errorf("stalls %d, start latency %v; want 0, <= 100ms", st.Stalls, st.StartLatency)
	}
}

// TestLowBufferBringsOrigin: a peer that fills a good buffer and then stops
// answering lets the buffer drain; when it falls below LowBuffer the origin
// is brought in (reason "low buffer") and playback never stalls.
func TestLowBufferBringsOrigin(t *testing.T) {
	h := newHarness(t, sched.Config{})
	o := originSrc("o", 40*time.Millisecond, true)
	p := peerSrc("p", 20*time.Millisecond, 1_000_000, true)
	p.Delay = func(r sched.Request, _ int) time.Duration {
		if r.Chunk >= 30 {
			return time.Hour
		}
		return 0
	}
	h.AddSource(o, true)
	h.AddSource(p, true)
	found(h, "t", p)
	h.Post(sched.Play{At: t0, Track: track("t", 60)})
	run(t, h, 2*time.Minute)

	st := h.S.Stats()
	if st.Stalls != 0 || !st.Ended {
		t.Errorf("stalls = %d, ended %v; want 0, true", st.Stalls, st.Ended)
	}
	start := t0.Add(st.StartLatency)
	low := h.S.Config().LowBuffer
	var first *schedtest.Logged
	for _, l := range originRequests(h) {
		if r := l.Action.(sched.Request); r.Reason == sched.ReasonLowBuffer {
			first = &l
			break
		}
	}
	if first == nil {
		t.Fatalf("no low-buffer origin request; origin requests by reason %v", st.OriginRequests)
	}
	r := first.Action.(sched.Request)
	deadline := start.Add(time.Duration(r.Chunk) * chunkDur)
	if r.Chunk != 30 || deadline.Sub(first.At) > low {
		t.Errorf("first low-buffer request: chunk %d, %v before its deadline; want chunk 30, at most %v", r.Chunk, deadline.Sub(first.At), low)
	}
	if got, want := st.Bytes[sched.KindOrigin], int64(30*chunk); got != want {
		t.Errorf("origin bytes = %d; want %d (chunks 30-59)", got, want)
	}
	t.Logf("origin requests by reason %v", st.OriginRequests)
}

// TestSeekReschedules: a seek cancels the requests around the old position
// and asks for the new position's chunk first.
func TestSeekReschedules(t *testing.T) {
	h := newHarness(t, sched.Config{})
	o := originSrc("o", 40*time.Millisecond, true)
	p := peerSrc("p", 30*time.Millisecond, 100_000, true) // 5 chunks/s: the window keeps it busy
	h.AddSource(o, true)
	h.AddSource(p, true)
	found(h, "t", p)
	h.Post(sched.Play{At: t0, Track: track("t", 200)})
	run(t, h, 5*time.Second)

	seekAt := h.Now
	mark := len(h.Log)
	h.Post(sched.Seek{At: seekAt, Offset: 150*chunk + 100})
	run(t, h, 30*time.Second)

	outstandingBefore := map[sched.ReqID]int{}
	for _, l := range h.Log[:mark] {
		if r, ok := l.Action.(sched.Request); ok {
			if _, done := h.Arrival(r.ID); !done || !l.At.Before(seekAt) {
				outstandingBefore[r.ID] = r.Chunk
			}
		}
	}
	var firstReq *sched.Request
	cancelled := 0
	for _, l := range h.Log[mark:] {
		switch a := l.Action.(type) {
		case sched.Cancel:
			if c, ok := outstandingBefore[a.Req]; ok && l.At.Equal(seekAt) {
				if c >= 150 {
					t.Errorf("seek cancelled request for chunk %d; want only chunks before 150", c)
				}
				cancelled++
			}
		case sched.Request:
			if firstReq == nil {
				firstReq = &a
			}
			if a.Chunk < 150 {
				t.Errorf("request for chunk %d at +%v after the seek to chunk 150", a.Chunk, l.At.Sub(t0))
			}
		}
	}
	if cancelled == 0 {
		t.Error("seek cancelled nothing; want the requests near the old position cancelled")
	}
	if firstReq == nil || firstReq.Chunk != 150 {
		t.Errorf("first request after the seek = %+v; want chunk 150", firstReq)
	}
	st := h.S.Stats()
	if st.Seeks != 1 || st.SeekWait <= 0 || st.SeekWait > time.Second || st.Stalls != 0 {
		t.Errorf("seeks %d, seek wait %v, stalls %d; want 1, (0, 1s], 0", st.Seeks, st.SeekWait, st.Stalls)
	}
}

// TestPrefetchNextTrack: the next track's first chunks arrive before the
// current one ends, from a peer (asked about PrefetchPeersAt before the
// end) or, when no peer holds it, from the origin at PrefetchOriginAt; the
// next play then starts at once.
func TestPrefetchNextTrack(t *testing.T) {
	for _, tc := range []struct {
		name     string
		peerHas  bool
		wantKind sched.SourceKind
		lead     time.Duration // first prefetch request no earlier than this before the end
	}{
		{"from a peer", true, sched.KindPeer, 30 * time.Second},
		{"from the origin", false, sched.KindOrigin, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, sched.Config{})
			o := originSrc("o", 40*time.Millisecond, true)
			p := peerSrc("p", 20*time.Millisecond, 1_000_000, true)
			p.Has = func(tr string, _ int) bool { return tr == "cur" || tc.peerHas }
			h.AddSource(o, true)
			h.AddSource(p, true)
			found(h, "cur", p)
			cur, next := track("cur", 50), track("next", 50)
			h.Post(sched.Play{At: t0, Track: cur})
			h.Post(sched.Queue{At: t0, Next: []sched.TrackInfo{next}})
			run(t, h, 2*time.Minute)
			if len(h.Finished) != 1 {
				t.Fatalf("Finished = %d; want 1", len(h.Finished))
			}
			var end time.Time
			for _, l := range h.Log {
				if _, ok := l.Action.(sched.Finished); ok {
					end = l.At
				}
			}
			pre := h.Requests(func(_ time.Time, r sched.Request) bool { return r.Track == "next" && r.Kind == tc.wantKind })
			if len(pre) == 0 {
				t.Fatalf("no %v request for the next track", tc.wantKind)
			}
			if lead := end.Sub(pre[0].At); lead > tc.lead {
				t.Errorf("first prefetch request %v before the end; want at most %v", lead, tc.lead)
			}
			for _, l := range pre {
				r := l.Action.(sched.Request)
				if r.Reason != sched.ReasonPrefetch {
					t.Errorf("prefetch request reason = %q; want %q", r.Reason, sched.ReasonPrefetch)
				}
				if at, ok := h.Arrival(r.ID); r.Chunk == 0 && (!ok || !at.Before(end)) {
					t.Errorf("next track chunk 0 arrived at +%v (%v); want before the end at +%v", at.Sub(t0), ok, end.Sub(t0))
				}
			}
			h.Post(sched.Play{At: h.Now, Track: next})
			run(t, h, time.Second)
			if st := h.S.Stats(); !st.Started || st.StartLatency != 0 {
				t.Errorf("next play start latency = %v (started %v); want 0", st.StartLatency, st.Started)
			}
		})
	}
}

// TestSwarmNoStall plays a 200-chunk track from a scripted swarm: peers of
// different speeds found through the DHT, one failing mid-play, one
// answering DontHave; no stall at speed 1 and at speed 8.
func TestSwarmNoStall(t *testing.T) {
	for _, speed := range []float64{1, 8} {
		t.Run(fmt.Sprintf("speed=%v", speed), func(t *testing.T) {
			h := newHarness(t, sched.Config{Speed: speed})
			h.AddSource(originSrc("o", 40*time.Millisecond, false), true)
			fast := peerSrc("fast", 30*time.Millisecond, 600_000, true)
			mid := peerSrc("mid", 60*time.Millisecond, 300_000, false)
			slow := peerSrc("slow", 150*time.Millisecond, 60_000, false)
			dying := peerSrc("dying", 40*time.Millisecond, 400_000, true)
			dying.Fail = func(_ sched.Request, n int) sched.FailReason {
				if n >= 25 {
					return sched.FailGone
				}
				return 0
			}
			liar := peerSrc("liar", 20*time.Millisecond, 1_000_000, true)
			liar.Has = func(string, int) bool { return true }
			liar.Fail = func(sched.Request, int) sched.FailReason { return sched.FailDontHave }
			for _, p := range []*schedtest.Source{fast, mid, slow, dying, liar} {
				h.AddSource(p, p.Info.Connected)
			}
			found(h, "t", fast, dying, liar) // known holders; the rest come from the DHT
			h.Post(sched.Play{At: t0, Track: track("t", 200)})
			run(t, h, time.Duration(float64(200*chunkDur)/speed)+time.Minute)

			if len(h.Finished) != 1 {
				t.Fatalf("speed %v: Finished = %d; want 1", speed, len(h.Finished))
			}
			st := h.Finished[0].Stats
			if st.Stalls != 0 {
				t.Errorf("speed %v: stalls = %d (%v); want 0", speed, st.Stalls, st.StallTime)
			}
			if got := st.TotalBytes(); got != 200*chunk {
				t.Errorf("speed %v: delivered %d bytes; want %d", speed, got, 200*chunk)
			}
			if st.Failures == 0 {
				t.Errorf("speed %v: no failures seen; the script has a dying peer and a liar", speed)
			}
			t.Logf("speed %v: start %v, bytes cache/peer/origin %v, origin requests %v, failures %d, cancels %d, wasted %d",
				speed, st.StartLatency, st.Bytes, st.OriginRequests, st.Failures, st.Cancels, st.WastedBytes)
			if speed == 1 && st.Bytes[sched.KindOrigin] > st.TotalBytes()/5 {
				t.Errorf("speed 1: origin bytes %d of %d; want at most 20%%", st.Bytes[sched.KindOrigin], st.TotalBytes())
			}
		})
	}
}

// TestStallAccounting: with no origin, a peer that is 5 s late with chunk
// 10 stalls the playhead once, for exactly the time between chunk 10's
// deadline and its arrival, and the track ends that much later.
func TestStallAccounting(t *testing.T) {
	h := newHarness(t, sched.Config{})
	p := peerSrc("p", 10*time.Millisecond, 1_000_000, true)
	p.Delay = func(r sched.Request, _ int) time.Duration {
		if r.Chunk == 10 {
			return 10 * time.Second
		}
		return 0
	}
	h.AddSource(p, true)
	found(h, "t", p)
	h.Post(sched.Play{At: t0, Track: track("t", 20)})
	run(t, h, time.Minute)

	if len(h.Finished) != 1 {
		t.Fatalf("Finished = %d; want 1", len(h.Finished))
	}
	st := h.Finished[0].Stats
	reqs := h.Requests(func(_ time.Time, r sched.Request) bool { return r.Chunk == 10 })
	if len(reqs) != 1 {
		t.Fatalf("requests for chunk 10 = %d; want 1 (no other source)", len(reqs))
	}
	arrived, ok := h.Arrival(reqs[0].Action.(sched.Request).ID)
	if !ok {
		t.Fatal("chunk 10 never arrived")
	}
	start := t0.Add(st.StartLatency)
	deadline := start.Add(10 * chunkDur)
	want := arrived.Sub(deadline)
	if d := st.StallTime - want; st.Stalls != 1 || d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("stalls %d, stall time %v; want 1, %v", st.Stalls, st.StallTime, want)
	}
	var end time.Time
	for _, l := range h.Log {
		if _, ok := l.Action.(sched.Finished); ok {
			end = l.At
		}
	}
	if d := end.Sub(start.Add(20*chunkDur + st.StallTime)); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("track ended at +%v; want start + 20 chunks + stall = +%v", end.Sub(t0), start.Add(20*chunkDur+st.StallTime).Sub(t0))
	}
}

// TestPeerResend: with no origin, a chunk a peer is late with is re-sent to
// another peer (as Spotify did), and playback does not stall.
func TestPeerResend(t *testing.T) {
	h := newHarness(t, sched.Config{})
	a := peerSrc("a", 10*time.Millisecond, 1_000_000, true)
	a.Delay = func(r sched.Request, _ int) time.Duration {
		if r.Chunk == 12 {
			return time.Hour
		}
		return 0
	}
	b := peerSrc("b", 40*time.Millisecond, 300_000, true)
	h.AddSource(a, true)
	h.AddSource(b, true)
	found(h, "t", a, b)
	h.Post(sched.Play{At: t0, Track: track("t", 30)})
	run(t, h, time.Minute)

	st := h.S.Stats()
	if st.Stalls != 0 || !st.Ended {
		t.Errorf("stalls %d, ended %v; want 0, true", st.Stalls, st.Ended)
	}
	re := h.Requests(func(_ time.Time, r sched.Request) bool { return r.Chunk == 12 && r.Source == "b" })
	if len(re) != 1 || re[0].Action.(sched.Request).Reason != sched.ReasonResend {
		t.Fatalf("requests for chunk 12 to b = %v; want one, %q", re, sched.ReasonResend)
	}
}

// TestPlayerPositionDrivesPlayhead: a PlayerPosition report re-anchors the
// playhead, which then moves on at Speed.
func TestPlayerPositionDrivesPlayhead(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	h.Post(sched.Play{At: t0, Track: track("t", 40)})
	run(t, h, 3*time.Second)
	at := h.Now
	h.Post(sched.PlayerPosition{At: at, Offset: 20_000})
	run(t, h, 0)
	if pos, ok := h.S.Position(at); !ok || pos != 20_000 {
		t.Errorf("Position at the report = %d, %v; want 20000, true", pos, ok)
	}
	later := at.Add(time.Second)
	if pos, _ := h.S.Position(later); pos != 40_000 {
		t.Errorf("Position 1s after the report = %d; want 40000 (20000 B/s)", pos)
	}
}

// TestStopCancelsEverything: Stop cancels every request in flight and keeps
// the play's stats.
func TestStopCancelsEverything(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	p := peerSrc("p", 30*time.Millisecond, 50_000, true)
	h.AddSource(p, true)
	found(h, "t", p)
	h.Post(sched.Play{At: t0, Track: track("t", 100)})
	h.Post(sched.Queue{At: t0, Next: []sched.TrackInfo{track("n", 10)}})
	run(t, h, 2*time.Second)
	if h.S.Outstanding() == 0 {
		t.Fatal("nothing in flight before Stop; the test needs some")
	}
	h.Post(sched.Stop{At: h.Now})
	run(t, h, time.Minute)
	if n := h.S.Outstanding(); n != 0 {
		t.Errorf("Outstanding() after Stop = %d; want 0", n)
	}
	if st := h.S.Stats(); !st.Started || st.Cancels == 0 || st.Track != "t" {
		t.Errorf("Stats() after Stop = %+v; want the stopped play with cancels", st)
	}
}
