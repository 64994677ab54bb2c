package sqlite

import "errors"

var (
	// ErrPath reports a database path Open does not accept (empty, a URI,
	// or :memory:).
	ErrPath = errors.New("sqlite: bad database path")
	// ErrSchema reports a database whose schema is newer than this binary.
	ErrSchema = errors.New("sqlite: unsupported schema version")
)
