package sched

import (
	"math"
	"time"
)

// Playhead is a play's playback clock over byte offsets. It waits (not
// started) until the chunk under its start position is available, then
// moves at Rate bytes per second of the driver's clock (the audio rate times
// Config.Speed); it stops (stalls) when it reaches the first byte of a chunk
// that has not arrived and resumes when that chunk arrives. Independently,
// the listener can pause it (Pause, Resume): a paused playhead stands
// still without stalling, and deadlines count as if it resumed now. The zero
// value is not usable; a play sets Rate and calls wait (Scheduler.newPlay,
// onPlay).
type Playhead struct {
	// Rate is the playhead speed in bytes per second of the driver's clock.
	Rate float64

	started   bool
	stalled   bool
	paused    bool
	anchorAt  time.Time // when the playhead was at anchorPos (if started, not stalled)
	anchorPos int64     // position at anchorAt; the stall position while stalled
	stallAt   time.Time // when the current stall began
	waitAt    time.Time // when the current wait (Play or Seek) began
}

// Started reports whether the playhead is moving or stalled (not waiting
// for its first chunk after Play or Seek).
func (h *Playhead) Started() bool { return h.started }

// Stalled reports whether the playhead is stopped on a missing chunk.
func (h *Playhead) Stalled() bool { return h.stalled }

// Paused reports whether the listener paused the playhead.
func (h *Playhead) Paused() bool { return h.paused }

// Position returns the playhead's byte offset at time at, assuming no stall
// begins before at (the scheduler advances the playhead event by event, so
// it knows).
func (h *Playhead) Position(at time.Time) int64 {
	if !h.started || h.stalled || h.paused || !at.After(h.anchorAt) {
		return h.anchorPos
	}
	return h.anchorPos + int64(at.Sub(h.anchorAt).Seconds()*h.Rate)
}

// durFor returns how long the playhead takes to cover n bytes.
func (h *Playhead) durFor(n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	s := float64(n) / h.Rate
	if s > float64(math.MaxInt64/2)/1e9 {
		return math.MaxInt64 / 2
	}
	return time.Duration(s * 1e9)
}

// base returns the reference point deadlines count from at time now: the
// anchor while moving, now while stalled or paused, and the start target
// while waiting.
func (h *Playhead) base(now time.Time, startTarget time.Duration) (time.Time, int64) {
	switch {
	case h.stalled, h.started && h.paused:
		return now, h.anchorPos
	case h.started:
		return h.anchorAt, h.anchorPos
	}
	t := h.waitAt.Add(startTarget)
	if t.Before(now) {
		t = now
	}
	return t, h.anchorPos
}

// TimeAt returns when the playhead reaches byte offset off if no new stall
// happens on the way, as seen at time now. Before the first chunk arrives
// the playhead is assumed to start at the wait's start plus startTarget (or
// now, if that has passed).
func (h *Playhead) TimeAt(off int64, now time.Time, startTarget time.Duration) time.Time {
	t, pos := h.base(now, startTarget)
	return t.Add(h.durFor(off - pos))
}

// wait puts the playhead at pos, waiting for its chunk from at.
func (h *Playhead) wait(at time.Time, pos int64) {
	h.started, h.stalled = false, false
	h.anchorPos, h.anchorAt, h.waitAt = pos, at, at
}

// start starts a waiting playhead at at.
func (h *Playhead) start(at time.Time) {
	h.started, h.stalled = true, false
	h.anchorAt = at
}

// stall stops the playhead at pos, which it reached at at.
func (h *Playhead) stall(at time.Time, pos int64) {
	h.stalled = true
	h.stallAt = at
	h.anchorPos = pos
}

// resume restarts a stalled playhead at at and returns how long it stood.
func (h *Playhead) resume(at time.Time) time.Duration {
	d := at.Sub(h.stallAt)
	h.stalled = false
	h.anchorAt = at
	return d
}

// set re-anchors a started playhead at pos (a PlayerPosition report).
func (h *Playhead) set(at time.Time, pos int64) {
	h.anchorAt, h.anchorPos = at, pos
}

// pause stops a playhead at at; a moving one keeps its position there.
func (h *Playhead) pause(at time.Time) {
	if h.paused {
		return
	}
	if h.started && !h.stalled {
		h.anchorPos = h.Position(at)
	}
	h.anchorAt = at
	h.paused = true
}

// unpause lets a paused playhead move on from at.
func (h *Playhead) unpause(at time.Time) {
	if !h.paused {
		return
	}
	h.paused = false
	if h.started && !h.stalled {
		h.anchorAt = at
	}
}
