package chunkstore

import "errors"

var (
	// ErrNotFound reports a chunk the store does not hold.
	ErrNotFound = errors.New("chunk not found")
	// ErrMismatch reports chunk data that does not hash to the CID it was
	// offered under. Never retryable: the data is wrong.
	ErrMismatch = errors.New("chunk data does not match its CID")
	// ErrBadCID reports a CID that is undefined or not of the kind chunks
	// are named by (CIDv1, raw codec, sha2-256).
	ErrBadCID = errors.New("bad chunk CID")
	// ErrTooLarge reports chunk data over Options.MaxChunkSize.
	ErrTooLarge = errors.New("chunk too large")
	// ErrBadOptions reports Options that Open cannot work with.
	ErrBadOptions = errors.New("bad chunk store options")
)
