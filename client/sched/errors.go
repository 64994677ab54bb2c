package sched

import "errors"

var (
	// ErrBadConfig reports a Config that New cannot work with.
	ErrBadConfig = errors.New("sched: bad config")
	// ErrBadTrack reports a TrackInfo without chunks, with a non-positive
	// chunk size, or without a way to compute the playback rate.
	ErrBadTrack = errors.New("sched: bad track")
	// ErrBadEvent reports an event the scheduler cannot apply (for example
	// a Seek past the end of the track, or an event with a zero time).
	ErrBadEvent = errors.New("sched: bad event")
)
