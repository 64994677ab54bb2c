package flock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrLocked reports a lock held by another process; the error is a
// *HeldError.
var ErrLocked = errors.New("locked by another process")

// ErrUnsupported reports a platform without file locks.
var ErrUnsupported = errors.New("file locks are not supported on this platform")

// Mode is how a lock is shared.
type Mode int

const (
	// Exclusive: one holder, and no shared holders.
	Exclusive Mode = iota
	// Shared: any number of shared holders, and no exclusive one.
	Shared
)

// Holder is what an exclusive lock's file says about the process that
// holds it. Zero fields are unknown (the holder may not have written them
// yet, or holds a shared lock).
type Holder struct {
	PID     int
	Command string
	Since   time.Time
}

// HeldError is the error of a lock another process holds.
type HeldError struct {
	Path   string
	Holder Holder
}

func (e *HeldError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is locked by another process", e.Path)
	if h := e.Holder; h.PID > 0 {
		fmt.Fprintf(&b, " (PID %d", h.PID)
		if h.Command != "" {
			fmt.Fprintf(&b, ", %s", h.Command)
		}
		if !h.Since.IsZero() {
			fmt.Fprintf(&b, ", since %s", h.Since.Format(time.RFC3339))
		}
		b.WriteString(")")
	}
	return b.String()
}

func (e *HeldError) Unwrap() error { return ErrLocked }

// Lock is a held lock.
type Lock struct {
	f *os.File
}

// TryLock takes a lock on the file at path (created if missing, with its
// directory) without waiting: if another process holds a conflicting lock
// it fails at once with a *HeldError. An exclusive lock writes command and
// now into the file, with the PID, for the next process to report.
func TryLock(path string, mode Mode, command string, now time.Time) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	busy, err := tryLock(f, mode)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if busy {
		h := readHolder(f)
		f.Close()
		return nil, &HeldError{Path: path, Holder: h}
	}
	l := &Lock{f: f}
	if mode == Exclusive {
		l.record(command, now)
	}
	return l, nil
}

// Acquire is TryLock that waits for a conflicting holder to let go, until
// ctx is done.
func Acquire(ctx context.Context, path string, mode Mode, command string, now time.Time) (*Lock, error) {
	type result struct {
		l   *Lock
		err error
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	done := make(chan result, 1)
	go func() {
		if err := lockWait(f, mode); err != nil {
			f.Close()
			done <- result{nil, fmt.Errorf("lock %s: %w", path, err)}
			return
		}
		l := &Lock{f: f}
		if mode == Exclusive {
			l.record(command, now)
		}
		done <- result{l, nil}
	}()
	select {
	case r := <-done:
		return r.l, r.err
	case <-ctx.Done():
		go func() { // the wait may still succeed: let go at once
			if r := <-done; r.l != nil {
				r.l.Release()
			}
		}()
		return nil, fmt.Errorf("wait for the lock on %s: %w", path, ctx.Err())
	}
}

// record writes the holder record of an exclusive lock.
func (l *Lock) record(command string, now time.Time) {
	rec := fmt.Sprintf("pid %d\ncommand %s\nsince %s\n", os.Getpid(), oneLine(command), now.UTC().Format(time.RFC3339))
	if err := l.f.Truncate(0); err == nil {
		l.f.WriteAt([]byte(rec), 0) // best effort: only messages read it
	}
}

// Release drops the lock. It is idempotent.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// readHolder parses the holder record; what it cannot parse stays zero.
func readHolder(f *os.File) Holder {
	b := make([]byte, 512)
	n, _ := f.ReadAt(b, 0)
	var h Holder
	for _, line := range strings.Split(string(b[:n]), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "pid":
			h.PID, _ = strconv.Atoi(v)
		case "command":
			h.Command = v
		case "since":
			h.Since, _ = time.Parse(time.RFC3339, v)
		}
	}
	return h
}
