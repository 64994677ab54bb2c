// Package trackertest starts real trackers for tests in other packages: New
// opens a SQLite store in t.TempDir(), builds a tracker.Server with cheap
// argon2 parameters and serves it with httptest on loopback; helpers create
// users, log in, ingest files and send API requests. MemSink is an
// in-memory chunk sink.
//
// trackertest is for tests only. It imports tracker, tracker/store/sqlite,
// catalog and protocol; it must not import node, client or origin.
package trackertest
