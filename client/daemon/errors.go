package daemon

import "errors"

var (
	// ErrNotLoggedIn reports a daemon started without a stored session:
	// run `chorus login` first.
	ErrNotLoggedIn = errors.New("daemon: not logged in (run `chorus login --user NAME` first)")
	// ErrTrackerUnreachable reports an action that needs the tracker while
	// it cannot be reached.
	ErrTrackerUnreachable = errors.New("daemon: tracker unreachable")
	// ErrNotReady reports an action before the daemon has joined the swarm
	// (it is still reaching the tracker).
	ErrNotReady = errors.New("daemon: not connected yet (still reaching the tracker)")
	// ErrNothingPlaying reports a control that needs a current track.
	ErrNothingPlaying = errors.New("daemon: nothing is playing")
	// ErrBadRequest reports bad input from an API caller.
	ErrBadRequest = errors.New("daemon: bad request")
	// ErrUnknownTrack reports a track ID the tracker does not know.
	ErrUnknownTrack = errors.New("daemon: unknown track")
	// ErrOutOfRange reports a queue index or seek position outside what
	// exists.
	ErrOutOfRange = errors.New("daemon: out of range")
	// ErrBadConfig reports a setting that makes no sense.
	ErrBadConfig = errors.New("daemon: bad configuration")
)
