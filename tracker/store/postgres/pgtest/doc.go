// Package pgtest gives tests a real PostgreSQL server: a throwaway cluster
// in a temporary directory, started once per test binary and shared by its
// tests, each of which gets a database of its own (New).
//
// The cluster is made with the server's own initdb and run with its
// postgres binary, found under /usr/lib/postgresql/NN/bin (the newest NN),
// on the PATH, or in $CHORUS_PG_BIN. It listens on a Unix socket in its
// directory only (no TCP port), with fsync off. initdb and postgres refuse
// to run as root, so under root the directory is given to the unprivileged
// "postgres" user that Debian's package creates and both run as that user
// (set in the child's credentials; the server dies with the test binary).
//
// With $CHORUS_TEST_POSTGRES set to a connection URL, no cluster is started
// and the databases are made on that server instead (its user needs
// CREATEDB).
//
// Where neither is available, New skips the test, except under CI ($CI
// set), where it fails it: CI must test against a real server.
//
// A test package using New calls Main from its TestMain, so the cluster is
// stopped when the package's tests end.
//
// pgtest is for tests only; it imports pgx and the standard library.
package pgtest
