package cache

import "errors"

var (
	// ErrNotFound reports a chunk the cache does not hold. It is a miss: the
	// caller should fetch the chunk from a peer or an origin.
	ErrNotFound = errors.New("cache: chunk not found")
	// ErrCorrupt reports a chunk whose stored bytes no longer hash to its
	// CID. The chunk has been removed; errors carrying ErrCorrupt from Get
	// also carry ErrNotFound, so callers that only look for a miss see one.
	ErrCorrupt = errors.New("cache: chunk corrupt on disk")
	// ErrMismatch reports data handed to Put that does not hash to the CID
	// it was put under (or a CID that is not CIDv1 raw sha2-256). It is not
	// retryable with the same bytes.
	ErrMismatch = errors.New("cache: data does not match CID")
	// ErrTooLarge reports a chunk larger than the cache's MaxBytes.
	ErrTooLarge = errors.New("cache: chunk larger than the cache")
	// ErrClosed reports a call on a closed Cache.
	ErrClosed = errors.New("cache: closed")
)
