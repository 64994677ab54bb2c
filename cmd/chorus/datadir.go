package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/chorus-music/chorus/internal/flock"
)

// clientLockFile, in a client data directory, is locked by the one process
// that owns the directory's node identity, cache and sessions.
const clientLockFile = "lock"

// lockClientDir takes the client data directory's lock for command (as
// `chorus node` or `chorus play --swarm`), so that two processes never run
// two nodes with one peer ID over one cache. The lock lasts until release
// is called or the process exits, however it exits. A directory in use
// gives an error naming the holder's PID and what to do; flag is the flag
// that chooses the directory.
func lockClientDir(dir, command, flag string) (release func(), err error) {
	l, err := flock.TryLock(filepath.Join(dir, clientLockFile), flock.Exclusive, command, time.Now())
	if who, held := lockHolder(err); held {
		return nil, fmt.Errorf("data directory %s is in use by %s, which owns its node identity and cache: "+
			"stop that process first, or give this command its own directory with %s", dir, who, flag)
	}
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	return func() { l.Release() }, nil
}

// lockHolder reports whether err from flock.TryLock says another process
// holds the lock, and names that process (PID, command, since when).
func lockHolder(err error) (who string, held bool) {
	var h *flock.HeldError
	if !errors.As(err, &h) {
		return "", false
	}
	if h.Holder.PID > 0 {
		return fmt.Sprintf("process %d (%s, since %s)", h.Holder.PID, h.Holder.Command, h.Holder.Since.Local().Format(time.DateTime)), true
	}
	return "another process", true
}
