package store

import "errors"

var (
	// ErrNotFound reports that the requested record does not exist (or has
	// expired where the method takes a time).
	ErrNotFound = errors.New("store: not found")
	// ErrExists reports a record whose unique key (account name, track ID,
	// source hash, key ID, token hash) is already taken.
	ErrExists = errors.New("store: already exists")
	// ErrConflict reports a compare-and-swap that lost: the record changed
	// since the caller read it (e.g. rotating a key that is no longer current).
	ErrConflict = errors.New("store: conflict")
	// ErrInvalid reports a record the store refuses to write (missing
	// required field).
	ErrInvalid = errors.New("store: invalid record")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("store: closed")
)
