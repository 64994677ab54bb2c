package origin

import (
	"errors"

	"github.com/chorus-music/chorus/internal/chunkstore"
)

var (
	// ErrNotFound reports a chunk the store does not hold. It is not
	// retryable against the same origin, but another origin may have it.
	ErrNotFound = chunkstore.ErrNotFound
	// ErrCIDMismatch reports chunk data that does not hash to the CID it
	// was offered under. Never retryable: the data is wrong.
	ErrCIDMismatch = chunkstore.ErrMismatch
	// ErrBadCID reports a CID that is undefined or not of the kind chunks
	// are named by (CIDv1, raw codec, sha2-256).
	ErrBadCID = chunkstore.ErrBadCID
	// ErrTooLarge reports chunk data over catalog.MaxChunkSize.
	ErrTooLarge = chunkstore.ErrTooLarge
	// ErrBadOptions reports Options that New cannot work with.
	ErrBadOptions = errors.New("origin: bad options")
)
