package tracker

import (
	"context"
	"fmt"
	"sync"

	"github.com/chorus-music/chorus/tracker/store"
)

// maxAuditBatch bounds one audit write.
const maxAuditBatch = 1024

// auditLog writes key-request audit entries by group commit: a request
// queues its entry and waits until the batch holding it is written; one
// writer goroutine writes whatever has queued since its last write in one
// LogKeyRequests call. An idle log writes a lone entry at once (no timer,
// no added latency); under load, requests arriving during a write share
// the next one. So the audit keeps its promise (no row, no key) without
// one INSERT per request. Close writes everything queued before it
// returns.
type auditLog struct {
	store   store.Store
	onBatch func(n int) // observes each batch's size

	mu      sync.Mutex // guards pending and closed
	pending []auditEntry
	closed  bool

	wake chan struct{} // buffered 1: pending became non-empty or closed was set
	done chan struct{} // closed when the writer has exited
}

type auditEntry struct {
	rec  store.KeyRequest
	done chan error // buffered 1: the batch's result
}

func newAuditLog(st store.Store, onBatch func(int)) *auditLog {
	a := &auditLog{store: st, onBatch: onBatch, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go a.run()
	return a
}

// record queues rec and waits until it is written. If ctx ends first the
// entry is still written (an audit row for a key never sent is harmless;
// the reverse is not), and ctx's error is returned.
func (a *auditLog) record(ctx context.Context, rec store.KeyRequest) error {
	e := auditEntry{rec: rec, done: make(chan error, 1)}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return fmt.Errorf("tracker: audit log: %w", store.ErrClosed)
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

func (a *auditLog) run() {
	defer close(a.done)
	for range a.wake {
		for {
			a.mu.Lock()
			batch := a.pending
			if len(batch) > maxAuditBatch {
				batch = batch[:maxAuditBatch]
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
			recs := make([]store.KeyRequest, len(batch))
			for i, e := range batch {
				recs[i] = e.rec
			}
			err := a.store.LogKeyRequests(context.Background(), recs)
			if err != nil {
				err = fmt.Errorf("tracker: audit log: %w", err)
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
func (a *auditLog) close() {
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
