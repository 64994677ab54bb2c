package node

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
)

func TestFaultCorruptChunk(t *testing.T) {
	tr := newFakeTracker(t)
	a := newTestNode(t, tr)
	bad := newTestNode(t, tr, func(o *Options) { o.Fault.CorruptResponses = true })
	c, _ := bad.store.put(t, catalog.ChunkSize)
	_, err := a.FetchFrom(testCtx(t), bad.AddrInfo(), c)
	if !errors.Is(err, ErrCorruptChunk) {
		t.Fatalf("FetchFrom(corrupting peer) = %v; want ErrCorruptChunk", err)
	}
	if Retryable(err) {
		t.Errorf("Retryable(%v) = true; want false", err)
	}
}

func TestFaultStall(t *testing.T) {
	tr := newFakeTracker(t)
	a := newTestNode(t, tr)
	staller := newTestNode(t, tr, func(o *Options) { o.Fault.Stall = true })
	c, _ := staller.store.put(t, catalog.ChunkSize)
	ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	_, err := a.FetchFrom(ctx, staller.AddrInfo(), c)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("FetchFrom(stalling peer) = %v; want context.DeadlineExceeded", err)
	}
}

func TestUploadRateCap(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 3 s")
	}
	tr := newFakeTracker(t)
	const (
		capBps    = 2 << 20   // 2 MiB/s
		chunkSize = 256 << 10 // 256 KiB
		chunks    = 24        // 6 MiB: about 3 s at the cap
	)
	server := newTestNode(t, tr, func(o *Options) { o.Upload.BytesPerSecond = capBps })
	client := newTestNode(t, tr)
	cids := make([]cid.Cid, chunks)
	for i := range cids {
		cids[i], _ = server.store.put(t, chunkSize)
	}
	ctx := testCtx(t)
	client.AddAddrs(server.AddrInfo())
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Fetch(ctx, server.ID(), c); err != nil {
				t.Errorf("Fetch: %v", err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := float64(chunks * chunkSize)
	rate := total / elapsed.Seconds()
	t.Logf("%d bytes in %v: %.0f B/s (cap %d)", int(total), elapsed, rate, capBps)
	// Faster than the cap is a real failure (the token bucket makes it
	// deterministic, the first 32 KiB burst aside). Slower is only a
	// failure when absurd: a busy machine may be slow.
	if rate > 1.1*capBps {
		t.Errorf("upload rate %.0f B/s exceeds the cap %d by more than 10%%", rate, capBps)
	}
	if want := time.Duration(total / capBps * float64(time.Second)); elapsed > 10*want {
		t.Errorf("transfer took %v; want under %v (10x the cap's %v)", elapsed, 10*want, want)
	}
}
