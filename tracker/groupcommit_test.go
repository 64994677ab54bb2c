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

func (a *groupCommit[T]) pendingLen() int {
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
	a := newGroupCommit("audit log", g.LogKeyRequests, func(n int) { sizes = append(sizes, n) })
	ctx := context.Background()
	rec := func(i int) store.KeyRequest {
		return store.KeyRequest{Account: "alice", TrackID: fmt.Sprint("t", i), At: time.Unix(int64(i), 0), RemoteAddr: "127.0.0.1:1"}
	}
	errs := make(chan error, 20)
	go func() { errs <- a.record(ctx, rec(0)) }()
	<-g.entered
	// While the first write is held, ten more queue up...
	for i := 1; i <= 10; i++ {
		go func() { errs <- a.record(ctx, rec(i)) }()
	}
	// ...and one whose request gives up waiting.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.record(gone, rec(11)); !errors.Is(err, context.Canceled) {
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
	if err := a.record(ctx, rec(12)); !errors.Is(err, store.ErrClosed) {
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
