package tracker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/store/sqlite"
)

// gateStore holds the first audit write until release is closed, and
// records every batch's size.
type gateStore struct {
	store.Store
	entered chan struct{} // closed when the first write starts
	release chan struct{}

	mu      sync.Mutex // guards batches
	batches []int
}

func (g *gateStore) LogKeyRequests(ctx context.Context, rs []store.KeyRequest) error {
	g.mu.Lock()
	first := len(g.batches) == 0
	g.batches = append(g.batches, len(rs))
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
	return g.Store.LogKeyRequests(ctx, rs)
}

func (a *groupCommit[T, R]) pendingLen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
}

func TestAuditGroupCommit(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := &gateStore{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	var sizes []int
	a := newGroupCommit("audit log", noResults(g.LogKeyRequests), func(n int) { sizes = append(sizes, n) })
	ctx := context.Background()
	rec := func(i int) store.KeyRequest {
		return store.KeyRequest{Account: "alice", TrackID: fmt.Sprint("t", i), At: time.Unix(int64(i), 0), RemoteAddr: "127.0.0.1:1"}
	}
	errs := make(chan error, 20)
	go func() { _, err := a.record(ctx, rec(0)); errs <- err }()
	<-g.entered
	// While the first write is held, ten more queue up...
	for i := 1; i <= 10; i++ {
		go func() { _, err := a.record(ctx, rec(i)); errs <- err }()
	}
	// ...and one whose request gives up waiting.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.record(gone, rec(11)); !errors.Is(err, context.Canceled) {
		t.Fatalf("record(canceled) = %v; want context.Canceled", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.pendingLen() < 11 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d entries queued", a.pendingLen())
		}
		runtime.Gosched()
	}
	close(g.release)
	for range 11 {
		if err := <-errs; err != nil {
			t.Fatalf("record = %v", err)
		}
	}
	// A clean stop writes what was queued: the canceled request's entry too.
	a.close()
	if _, err := a.record(ctx, rec(12)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("record after close = %v; want ErrClosed", err)
	}
	got, err := st.KeyRequests(ctx, "", 100)
	if err != nil || len(got) != 12 {
		t.Fatalf("audit rows = %d, %v; want 12", len(got), err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.batches) != 2 || g.batches[0] != 1 || g.batches[1] != 11 {
		t.Fatalf("audit writes = %v; want [1 11] (the queued entries in one write)", g.batches)
	}
	if len(sizes) != 2 {
		t.Fatalf("onBatch saw %v; want two batches", sizes)
	}
}

// TestGroupCommitResults: each record gets its own result from its
// batch's write, and a write answering with the wrong number of results
// fails every record of the batch.
func TestGroupCommitResults(t *testing.T) {
	short := false
	a := newGroupCommit("squares", func(_ context.Context, xs []int) ([]int, error) {
		out := make([]int, len(xs))
		for i, x := range xs {
			out[i] = x * x
		}
		if short {
			out = out[:len(out)-1]
		}
		return out, nil
	}, func(int) {})
	defer a.close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := a.record(ctx, i); err != nil || got != i*i {
				errs <- fmt.Errorf("record(%d) = %d, %v; want %d", i, got, err, i*i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	short = true // no write is in flight: the writer reads it after the next record queues
	if got, err := a.record(ctx, 3); err == nil || got != 0 {
		t.Errorf("record with a short result = %d, %v; want 0 and an error", got, err)
	}
}
