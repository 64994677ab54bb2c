package sched_test

import (
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
)

// TestPauseStopsThePlayhead: while paused the playhead stands still, does
// not stall and does not reach the end; after Resume it moves on from where
// it stood, and the track ends later by the length of the pause.
func TestPauseStopsThePlayhead(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	tr := track("t", 10) // 8.192 s
	h.Post(sched.Play{At: t0, Track: tr})
	run(t, h, 2*time.Second)
	at := h.Now
	pos, ok := h.S.Position(at)
	if !ok || pos == 0 {
		t.Fatalf("Position before the pause = %d, %v; want moving", pos, ok)
	}
	h.Post(sched.Pause{At: at})
	run(t, h, 20*time.Second) // longer than the rest of the track
	if got, _ := h.S.Position(h.Now); got != pos {
		t.Errorf("Position after 20 s paused = %d; want %d, where it paused", got, pos)
	}
	if len(h.Finished) != 0 {
		t.Fatalf("a paused play finished: %+v", h.Finished)
	}
	if st := h.S.Stats(); st.Stalls != 0 || st.StallTime != 0 {
		t.Errorf("stats after the pause = %+v; want no stall", st)
	}
	resumed := h.Now
	h.Post(sched.Resume{At: resumed})
	run(t, h, time.Second)
	if got, _ := h.S.Position(resumed.Add(time.Second)); got != pos+20_000 {
		t.Errorf("Position 1 s after Resume = %d; want %d (20000 B/s from %d)", got, pos+20_000, pos)
	}
	run(t, h, 10*time.Second)
	if len(h.Finished) != 1 || !h.Finished[0].Stats.Ended || h.Finished[0].Stats.Stalls != 0 {
		t.Fatalf("Finished = %+v; want one ended play without stalls", h.Finished)
	}
	end := h.Log[len(h.Log)-1].At
	for _, l := range h.Log {
		if _, ok := l.Action.(sched.Finished); ok {
			end = l.At
		}
	}
	want := t0.Add(20 * time.Second).Add(tr.Duration)
	if d := end.Sub(t0); d < 28*time.Second || d > 29*time.Second {
		t.Errorf("track ended %v after Play; want about 8.2 s of audio plus the 20 s pause (%v)", d, want.Sub(t0))
	}
}

// TestPauseDuringStall: a pause ends the stall's clock; after Resume the
// playhead stalls again if the chunk is still missing.
func TestPauseDuringStall(t *testing.T) {
	h := newHarness(t, sched.Config{})
	o := originSrc("o", 20*time.Millisecond, true)
	o.Has = func(_ string, chunk int) bool { return chunk < 2 }
	h.AddSource(o, true)
	h.Post(sched.Play{At: t0, Track: track("t", 10)})
	run(t, h, 3*time.Second) // two chunks play in 1.64 s, then it stalls
	st := h.S.Stats()
	if st.Stalls != 1 {
		t.Fatalf("stats = %+v; want one stall", st)
	}
	h.Post(sched.Pause{At: h.Now})
	run(t, h, 0)
	paused := h.S.Stats().StallTime
	run(t, h, 10*time.Second)
	if got := h.S.Stats(); got.StallTime != paused || got.Stalls != 1 {
		t.Errorf("after 10 s paused: stalls %d, stall time %v; want 1 and %v (a pause is no stall)", got.Stalls, got.StallTime, paused)
	}
	h.Post(sched.Resume{At: h.Now})
	run(t, h, time.Second)
	if got := h.S.Stats(); got.Stalls != 2 {
		t.Errorf("1 s after Resume on a missing chunk: %d stalls; want 2", got.Stalls)
	}
}

// TestHeardReanchorsWhilePaused: a position report while paused moves the
// standing playhead; after Resume it moves on from there.
func TestHeardReanchorsWhilePaused(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	h.Post(sched.Play{At: t0, Track: track("t", 40)})
	run(t, h, 2*time.Second)
	h.Post(sched.Pause{At: h.Now})
	h.Post(sched.PlayerPosition{At: h.Now, Offset: 10_000})
	run(t, h, 5*time.Second)
	if got, _ := h.S.Position(h.Now); got != 10_000 {
		t.Errorf("Position while paused after a report of 10000 = %d", got)
	}
	at := h.Now
	h.Post(sched.Resume{At: at})
	run(t, h, 0)
	if got, _ := h.S.Position(at.Add(500 * time.Millisecond)); got != 20_000 {
		t.Errorf("Position 0.5 s after Resume = %d; want 20000", got)
	}
}

// TestPauseBeforeStart: a play paused before its first chunk arrives
// starts (Started) but does not move until Resume.
func TestPauseBeforeStart(t *testing.T) {
	h := newHarness(t, sched.Config{})
	h.AddSource(originSrc("o", 200*time.Millisecond, true), true)
	h.Post(sched.Play{At: t0, Track: track("t", 10)})
	h.Post(sched.Pause{At: t0.Add(time.Millisecond)})
	run(t, h, 5*time.Second)
	if st := h.S.Stats(); !st.Started {
		t.Fatalf("stats = %+v; want the first chunk arrived", st)
	}
	if got, _ := h.S.Position(h.Now); got != 0 {
		t.Errorf("Position of a play paused before it started = %d; want 0", got)
	}
	h.Post(sched.Resume{At: h.Now})
	run(t, h, 15*time.Second)
	if len(h.Finished) != 1 {
		t.Errorf("Finished = %v; want the play to end after Resume", h.Finished)
	}
}
