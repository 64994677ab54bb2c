// Package flock takes operating-system file locks on a lock file, so that
// one process at a time owns a data directory: flock(2) on Unix,
// LockFileEx on Windows. The kernel drops the lock when its process exits,
// however it exits (kill -9 included), so a lock is never stale.
//
// An exclusive lock records its holder (PID, command, since when) in the
// lock file, so a process refused the lock can say who holds it. The lock
// file is never removed: removing it would let two processes lock two
// different files under one name.
//
// It imports nothing of this module.
package flock
