package client

import (
	"errors"

	"github.com/chorus-music/chorus/client/sched"
)

var (
	// ErrNotLoggedIn reports a call that needs a session before Login.
	ErrNotLoggedIn = errors.New("client: not logged in")
	// ErrUnauthorized reports a tracker answer of 401: bad credentials or an
	// expired session that could not be renewed.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrRateLimited reports a tracker answer of 429.
	ErrRateLimited = errors.New("client: rate limited")
	// ErrNotFound reports a tracker or origin answer of 404.
	ErrNotFound = errors.New("client: not found")
	// ErrUntrustedKey reports tracker signing keys that no pinned key
	// endorses.
	ErrUntrustedKey = errors.New("client: tracker signing key not trusted")
	// ErrNoSource reports a chunk that no source could deliver.
	ErrNoSource = errors.New("client: no source could deliver the chunk")
	// ErrClosed reports use of a closed playback.
	ErrClosed = errors.New("client: playback closed")
	// ErrCorruptChunk reports a chunk that does not match its CID (or
	// exceeds the chunk size limit): the source that sent it is banned for
	// the play.
	ErrCorruptChunk = errors.New("client: chunk does not match its CID")
)

// FetchError is a chunk fetch that failed, classified by the source that
// made it: Reason is what the scheduler makes of it (back off, drop the
// holder, ban the source).
type FetchError struct {
	// Source is the source's Name.
	Source string
	Reason sched.FailReason
	Err    error
}

func (e *FetchError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }
