package origin

import "errors"

var (
	// ErrNotFound reports a chunk the store does not hold. It is not
	// retryable against the same origin, but another origin may have it.
	ErrNotFound = errors.New("origin: chunk not found")
	// ErrCIDMismatch reports chunk data that does not hash to the CID it
	// was offered under. Never retryable: the data is wrong.
	ErrCIDMismatch = errors.New("origin: chunk data does not match its CID")
	// ErrBadCID reports a CID that is undefined or not of the kind chunks
	// are named by (CIDv1, raw codec, sha2-256).
	ErrBadCID = errors.New("origin: bad chunk CID")
	// ErrTooLarge reports chunk data over catalog.MaxChunkSize.
	ErrTooLarge = errors.New("origin: chunk too large")
	// ErrBadOptions reports Options that New cannot work with.
	ErrBadOptions = errors.New("origin: bad options")
)
