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
// writes whatever has queued since its last write in one call of write,
// which returns one result R per record (or nil: zero results).
// An idle writer writes a lone record at once (no timer, no added
// latency); under load, requests arriving during a write share the next
// one. So a record is durable before its request is answered (for the
// key audit: no row, no key) without one INSERT per request. close
// writes everything queued before it returns.
type groupCommit[T, R any] struct {
	what    string                                  // for errors: "key grants", "tickets"
	write   func(context.Context, []T) ([]R, error) // one batch, in one store call
	onBatch func(n int)                             // observes each batch's size

	mu      sync.Mutex // guards pending and closed
	pending []pendingRecord[T, R]
	closed  bool

	wake chan struct{} // buffered 1: pending became non-empty or closed was set
	done chan struct{} // closed when the writer has exited
}

type pendingRecord[T, R any] struct {
	rec  T
	done chan recordResult[R] // buffered 1: the batch's result
}

type recordResult[R any] struct {
	res R
	err error
}

func newGroupCommit[T, R any](what string, write func(context.Context, []T) ([]R, error), onBatch func(int)) *groupCommit[T, R] {
	a := &groupCommit[T, R]{what: what, write: write, onBatch: onBatch, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go a.run()
	return a
}

// noResults adapts a batch write without results to groupCommit.
func noResults[T any](write func(context.Context, []T) error) func(context.Context, []T) ([]struct{}, error) {
	return func(ctx context.Context, recs []T) ([]struct{}, error) { return nil, write(ctx, recs) }
}

// record queues rec and waits until it is written, returning its result.
// If ctx ends first the record is still written (an audit row for a key
// never sent, or a ticket record for a ticket never sent, is harmless; the
// reverse is not), and ctx's error is returned.
func (a *groupCommit[T, R]) record(ctx context.Context, rec T) (R, error) {
	e := pendingRecord[T, R]{rec: rec, done: make(chan recordResult[R], 1)}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		var zero R
		return zero, fmt.Errorf("tracker: %s: %w", a.what, store.ErrClosed)
	}
	a.pending = append(a.pending, e)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	select {
	case r := <-e.done:
		return r.res, r.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

func (a *groupCommit[T, R]) run() {
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
			res, err := a.write(context.Background(), recs)
			if err == nil && res != nil && len(res) != len(recs) {
				err = fmt.Errorf("%d results for %d records", len(res), len(recs))
			}
			if err != nil {
				err = fmt.Errorf("tracker: %s: %w", a.what, err)
			}
			a.onBatch(len(batch))
			for i, e := range batch {
				var r recordResult[R]
				if r.err = err; err == nil && res != nil {
					r.res = res[i]
				}
				e.done <- r
			}
		}
	}
}

// close refuses new entries, writes the queued ones and waits for the
// writer to exit.
func (a *groupCommit[T, R]) close() {
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
