package postgres

import "errors"

var (
	// ErrURL reports a connection string Open does not accept.
	ErrURL = errors.New("postgres: bad connection URL")
	// ErrSchema reports a database whose schema is newer than this binary.
	ErrSchema = errors.New("postgres: unsupported schema version")
)
