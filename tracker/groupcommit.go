package tracker

import (
	"context"
	"fmt"
	"sync"

	"github.com/chorus-music/chorus/tracker/store"
)

// maxBatch bounds one group-commit write.
const maxBatch = 1024

// groupCommit writes records by group commit: a request queues its record
// and waits until the batch holding it is written; one writer goroutine
// writes whatever has queued since its last write in one call of write.
// An idle writer writes a lone record at once (no timer, no added
// latency); under load, requests arriving during a write share the next
// one. So a record is durable before its request is answered (for the
// key audit: no row, no key) without one INSERT per request. close
// writes everything queued before it returns.
type groupCommit[T any] struct {
	what    string                           // for errors: "audit log", "tickets"
	write   func(context.Context, []T) error // one batch, in one store call
	onBatch func(n int)                      // observes each batch's size

	mu      sync.Mutex // guards pending and closed
	pending []pendingRecord[T]
	closed  bool

	wake chan struct{} // buffered 1: pending became non-empty or closed was set
	done chan struct{} // closed when the writer has exited
}

type pendingRecord[T any] struct {
	rec  T
	done chan error // buffered 1: the batch's result
}

func newGroupCommit[T any](what string, write func(context.Context, []T) error, onBatch func(int)) *groupCommit[T] {
	a := &groupCommit[T]{what: what, write: write, onBatch: onBatch, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go a.run()
	return a
}

// record queues rec and waits until it is written. If ctx ends first the
// record is still written (an audit row for a key never sent, or a ticket
// record for a ticket never sent, is harmless; the reverse is not), and
// ctx's error is returned.
func (a *groupCommit[T]) record(ctx context.Context, rec T) error {
	e := pendingRecord[T]{rec: rec, done: make(chan error, 1)}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return fmt.Errorf("tracker: %s: %w", a.what, store.ErrClosed)
	}
	a.pending = append(a.pending, e)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	select {
	case err := <-e.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *groupCommit[T]) run() {
	defer close(a.done)
	for range a.wake {
		for {
			a.mu.Lock()
			batch := a.pending
			if len(batch) > maxBatch {
				batch = batch[:maxBatch]
			}
			a.pending = a.pending[len(batch):]
			closed := a.closed
			a.mu.Unlock()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			recs := make([]T, len(batch))
			for i, e := range batch {
				recs[i] = e.rec
			}
			err := a.write(context.Background(), recs)
			if err != nil {
				err = fmt.Errorf("tracker: %s: %w", a.what, err)
			}
			a.onBatch(len(batch))
			for _, e := range batch {
				e.done <- err
			}
		}
	}
}

// close refuses new entries, writes the queued ones and waits for the
// writer to exit.
func (a *groupCommit[T]) close() {
	a.mu.Lock()
	already := a.closed
	a.closed = true
	a.mu.Unlock()
	if !already {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
	<-a.done
}
