// Package sqlite is the SQLite backend of the tracker's store.Store, on
// mattn/go-sqlite3 (cgo).
//
// Concurrency: one file, two database/sql handles. Writes go through a
// handle limited to a single connection whose transactions begin IMMEDIATE,
// so there is exactly one writer and SQLite never has to upgrade a read lock
// mid-transaction; reads go through a pool of MaxReaders query-only
// connections that WAL mode runs beside the writer. Connections use
// journal_mode=WAL, synchronous=NORMAL (durable across process crashes; a
// power cut may lose the last commits but never corrupts), foreign keys on
// and a 5 s busy timeout.
//
// Schema: numbered migrations in migrations.go, each applied in its own
// transaction and recorded in schema_migrations; Open refuses a database
// whose version is newer than the binary's. Times are INTEGER unix
// nanoseconds. Search uses FTS4 (FTS5 would need a build tag) with the
// unicode61 tokenizer; user input is reduced to words by store.SearchTerms
// and each word is sent as a quoted prefix phrase, so no input is parsed as
// query syntax.
//
// sqlite imports only tracker/store and the standard library besides the
// driver; it must not import tracker.
package sqlite
