package flock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// Locks taken through separate opens conflict even within one process
// (flock(2) locks belong to the open file), which lets this test play two
// processes.
func TestExclusiveNamesHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "lock")
	l, err := TryLock(path, Exclusive, "chorus node", now)
	if err != nil {
		t.Fatalf("TryLock = %v", err)
	}
	_, err = TryLock(path, Exclusive, "chorus play --swarm", now)
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock = %v; want a *HeldError wrapping ErrLocked", err)
	}
	want := Holder{PID: os.Getpid(), Command: "chorus node", Since: now}
	if held.Holder != want {
		t.Errorf("holder = %+v; want %+v", held.Holder, want)
	}
	if msg := err.Error(); !strings.Contains(msg, "PID ") || !strings.Contains(msg, "chorus node") {
		t.Errorf("message %q names no PID or command", msg)
	}
	if _, err := TryLock(path, Shared, "gc", now); !errors.Is(err, ErrLocked) {
		t.Errorf("shared TryLock under an exclusive one = %v; want ErrLocked", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("second Release = %v; want nil", err)
	}
	l2, err := TryLock(path, Exclusive, "again", now)
	if err != nil {
		t.Fatalf("TryLock after Release = %v", err)
	}
	l2.Release()
}

func TestSharedLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	a, err := TryLock(path, Shared, "ingest", now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := TryLock(path, Shared, "ingest", now)
	if err != nil {
		t.Fatalf("second shared TryLock = %v; want nil", err)
	}
	if _, err := TryLock(path, Exclusive, "gc", now); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive TryLock under shared ones = %v; want ErrLocked", err)
	}
	a.Release()
	if _, err := TryLock(path, Exclusive, "gc", now); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive TryLock under one shared lock = %v; want ErrLocked", err)
	}
	b.Release()
	c, err := TryLock(path, Exclusive, "gc", now)
	if err != nil {
		t.Fatalf("exclusive TryLock once all are released = %v", err)
	}
	c.Release()
}

// Acquire waits for the holder to let go, and gives up when ctx is done.
func TestAcquireWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	held, err := TryLock(path, Exclusive, "gc", now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Acquire(ctx, path, Shared, "ingest", now); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire(cancelled) under an exclusive lock = %v; want context.Canceled", err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := Acquire(context.Background(), path, Shared, "ingest", now)
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	held.Release()
	if err := <-got; err != nil {
		t.Fatalf("Acquire after the holder let go = %v", err)
	}
}
