package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
)

// TestChunkStreamsSurviveTrim shows that a trim of the connection manager
// (issue 11) closes an idle connection but never one with chunk work in
// flight, on the fetch side (a request we await) or the serve side (a request
// we serve), and that the protection ends when the work does.
func TestChunkStreamsSurviveTrim(t *testing.T) {
	tr := newFakeTracker(t)
	gated := func() *gateStore {
		return &gateStore{memStore: newMemStore(), entered: make(chan struct{}), release: make(chan struct{})}
	}
	// a trims down to one unprotected connection, sparing none for age.
	aStore, bStore := gated(), gated()
	a := newTestNode(t, tr, func(o *Options) {
		o.Store = aStore
		o.Conns = ConnOptions{LowWater: 1, HighWater: 100, GracePeriod: time.Nanosecond}
	})
	b := newTestNode(t, tr, func(o *Options) { o.Store = bStore }) // a fetches from b
	s := newTestNode(t, tr)                                        // s fetches from a
	k := newTestNode(t, tr)                                        // idle, valued: the one the trim keeps
	d := newTestNode(t, tr)                                        // idle: trimmed
	ctx := testCtx(t)
	cm := a.host.ConnManager()

	kc, kdata := k.store.put(t, catalog.ChunkSize)
	mustFetch(t, ctx, a, k.AddrInfo(), kc, kdata)
	dc, ddata := d.store.put(t, catalog.ChunkSize)
	mustFetch(t, ctx, a, d.AddrInfo(), dc, ddata)
	bc, bdata := bStore.put(t, catalog.ChunkSize)
	bStore.gated = bc
	ac, adata := aStore.put(t, catalog.ChunkSize)
	aStore.gated = ac

	type result struct {
		data []byte
		err  error
	}
	fetched, served := make(chan result, 1), make(chan result, 1)
	go func() {
		got, err := a.FetchFrom(ctx, b.AddrInfo(), bc)
		fetched <- result{got, err}
	}()
	go func() {
		got, err := s.FetchFrom(ctx, a.AddrInfo(), ac)
		served <- result{got, err}
	}()
	for _, entered := range []chan struct{}{bStore.entered, aStore.entered} {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("a chunk request never reached its store")
		}
	}

	// kad-dht protects the peers of its nearest buckets at random (by
	// ID); once every peer is in a's table, drop that so only our tags
	// decide.
	all := []peer.ID{b.ID(), s.ID(), k.ID(), d.ID()}
	waitInRoutingTable(t, ctx, a, all...)
	for _, p := range all {
		cm.Unprotect(p, "kbucket")
	}
	cm.TagPeer(k.ID(), "test-keep", 1000)

	for p, want := range map[peer.ID]bool{b.ID(): true, s.ID(): true, k.ID(): false, d.ID(): false} {
		if got := cm.IsProtected(p, chunkTag); got != want {
			t.Errorf("IsProtected(%s, chunkTag) with chunk work in flight: %v; want %v", p, got, want)
		}
	}
	conns := func(ps ...peer.ID) map[peer.ID][]network.Conn {
		m := make(map[peer.ID][]network.Conn)
		for _, p := range ps {
			m[p] = a.host.Network().ConnsToPeer(p)
			if len(m[p]) == 0 {
				t.Fatalf("a has no connection to %s before the trim", p)
			}
		}
		return m
	}
	checkClosed := func(when string, m map[peer.ID][]network.Conn, p peer.ID, want bool) {
		t.Helper()
		for _, c := range m[p] {
			if c.IsClosed() != want {
				t.Errorf("%s: connection to %s closed = %v; want %v", when, p, c.IsClosed(), want)
			}
		}
	}

	before := conns(all...)
	cm.TrimOpenConns(ctx)
	checkClosed("first trim", before, d.ID(), true)
	for _, p := range []peer.ID{b.ID(), s.ID(), k.ID()} {
		checkClosed("first trim", before, p, false)
	}

	close(bStore.release)
	close(aStore.release)
	if r := <-fetched; r.err != nil || !bytes.Equal(r.data, bdata) {
		t.Fatalf("a's fetch across the trim = %d bytes, %v; want its chunk", len(r.data), r.err)
	}
	if r := <-served; r.err != nil || !bytes.Equal(r.data, adata) {
		t.Fatalf("s's fetch from a across the trim = %d bytes, %v; want its chunk", len(r.data), r.err)
	}
	// The fetch side releases before handing over the response; the serve
	// side when its worker finds the queue empty, just after the write, so
	// wait for that, bounded by the test's context.
	if cm.IsProtected(b.ID(), chunkTag) {
		t.Errorf("IsProtected(b, chunkTag) after the fetch returned = true; want false")
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for cm.IsProtected(s.ID(), chunkTag) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("a still protects s after serving its only request")
		}
	}

	after := conns(b.ID(), s.ID(), k.ID())
	cm.TrimOpenConns(ctx)
	checkClosed("second trim", after, b.ID(), true)
	checkClosed("second trim", after, s.ID(), true)
	checkClosed("second trim", after, k.ID(), false)
}

// waitInRoutingTable waits until n's DHT routing table holds every peer of ps.
func waitInRoutingTable(t *testing.T, ctx context.Context, n *testNode, ps ...peer.ID) {
	t.Helper()
	for {
		ch := n.RoutingTableChanged()
		missing := 0
		for _, p := range ps {
			if n.dht.RoutingTable().Find(p) == "" {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%d peers never entered the routing table: %v", missing, ctx.Err())
		}
	}
}
