// Package migrate copies a tracker's SQLite store into an empty PostgreSQL
// store, every table and row unchanged (both backends keep the same
// tables, times as unix nanoseconds), in one PostgreSQL transaction, and
// verifies the copy: for every table, the row count and a SHA-256 over its
// rows in key order, read back from PostgreSQL, must equal the SQLite
// side's.
//
// migrate imports the two backends, pgx and the standard library; it must
// not import tracker.
package migrate
