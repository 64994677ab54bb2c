package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	lp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
)

// v1Host is a peer that speaks chunk protocol version 1 as the nodes
// before version 2 did, written from the wire contract alone: a bare
// libp2p host, Hello version 1, requests answered in order. A frame
// version 1 lacks (DatedRequest) is what an old node resets the stream
// for; v1Host records it.
type v1Host struct {
	host.Host
	tr *fakeTracker

	mu     sync.Mutex // guards the fields below
	chunks map[string][]byte
	frames []protocol.MessageType // every frame read after Hello
}

func newV1Host(t *testing.T, tr *fakeTracker) *v1Host {
	t.Helper()
	h, err := libp2p.New(libp2p.NoTransports, libp2p.Transport(libp2pquic.NewTransport),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	v := &v1Host{Host: h, tr: tr, chunks: map[string][]byte{}}
	hello := v.hello(t)
	h.SetStreamHandler(lp2pproto.ID(protocol.ChunkProtocol), func(s network.Stream) { v.serve(s, hello) })
	return v
}

func (v *v1Host) hello(t *testing.T) *protocol.Hello {
	raw, err := json.Marshal(v.tr.sign(v.ID().String(), time.Now(), time.Hour))
	if err != nil {
		t.Error(err)
	}
	return &protocol.Hello{Version: 1, Ticket: raw}
}

// serve answers one chunk stream as a version-1 server.
func (v *v1Host) serve(s network.Stream, hello *protocol.Hello) {
	defer s.Close()
	br := bufio.NewReader(s)
	if msg, err := protocol.ReadMessage(br); err != nil || msg.Type() != protocol.TypeHello {
		s.Reset()
		return
	}
	if protocol.WriteMessage(s, hello) != nil {
		return
	}
	for {
		msg, err := protocol.ReadMessage(br)
		if err != nil {
			return
		}
		v.mu.Lock()
		v.frames = append(v.frames, msg.Type())
		v.mu.Unlock()
		req, ok := msg.(*protocol.Request)
		if !ok {
			if msg.Type() != protocol.TypeCancel {
				s.Reset() // what a version-1 decoder does with a frame it lacks
				return
			}
			continue
		}
		v.mu.Lock()
		data, have := v.chunks[string(req.CID)]
		v.mu.Unlock()
		resp := &protocol.Response{ID: req.ID, Status: protocol.StatusDontHave}
		if have {
			resp = &protocol.Response{ID: req.ID, Status: protocol.StatusOK, Data: data}
		}
		if protocol.WriteMessage(s, resp) != nil {
			return
		}
	}
}

func (v *v1Host) put(t *testing.T) (cid.Cid, []byte) {
	data := bytes.Repeat([]byte{byte(len(v.chunks))}, 1000)
	c := catalog.ChunkCID(data)
	v.mu.Lock()
	v.chunks[string(c.Bytes())] = data
	v.mu.Unlock()
	return c, data
}

// TestNewNodeFetchesFromVersion1 fetches from a version-1 peer with
// deadlines, as the player does: after the peer's Hello said version 1,
// the node still sends plain Requests, and every answer arrives.
func TestNewNodeFetchesFromVersion1(t *testing.T) {
	tr := newFakeTracker(t)
	old := newV1Host(t, tr)
	a := newTestNode(t, tr)
	ctx := testCtx(t)
	a.AddAddrs(peer.AddrInfo{ID: old.ID(), Addrs: old.Addrs()})
	for i := range 6 {
		c, want := old.put(t)
		got, err := a.StartFetch(ctx, old.ID(), c, time.Now().Add(time.Duration(10-i)*time.Second)).Wait()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("fetch %d from the version-1 peer = %d bytes, %v; want its chunk", i, len(got), err)
		}
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	for i, f := range old.frames {
		if f != protocol.TypeRequest {
			t.Errorf("frame %d to the version-1 peer has type %d; want only Requests (%d)", i, f, protocol.TypeRequest)
		}
	}
}

// TestVersion1FetchesFromNewNode is the other way round: a version-1
// requester's Hello and plain Requests are served by a version-2 node,
// whose Hello says 2.
func TestVersion1FetchesFromNewNode(t *testing.T) {
	tr := newFakeTracker(t)
	old := newV1Host(t, tr)
	b := newTestNode(t, tr)
	ctx := testCtx(t)
	var cids []cid.Cid
	var want [][]byte
	for range 4 {
		c, d := b.store.put(t, 1000)
		cids, want = append(cids, c), append(want, d)
	}
	if err := old.Connect(ctx, b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	s, err := old.NewStream(ctx, b.ID(), lp2pproto.ID(protocol.ChunkProtocol))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := protocol.WriteMessage(s, old.hello(t)); err != nil {
		t.Fatal(err)
	}
	for i, c := range cids {
		if err := protocol.WriteMessage(s, &protocol.Request{ID: uint64(i + 1), CID: c.Bytes()}); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(s)
	msg, err := protocol.ReadMessage(br)
	if h, ok := msg.(*protocol.Hello); err != nil || !ok || h.Version != protocol.ChunkVersion {
		t.Fatalf("server's first frame = %#v, %v; want Hello version %d", msg, err, protocol.ChunkVersion)
	}
	for i := range cids {
		msg, err := protocol.ReadMessage(br)
		r, ok := msg.(*protocol.Response)
		if err != nil || !ok || r.ID != uint64(i+1) || r.Status != protocol.StatusOK || !bytes.Equal(r.Data, want[i]) {
			t.Fatalf("answer %d = %T %v; want request %d's chunk, in order", i, msg, err, i+1)
		}
	}
}

// orderStore records the order of Gets and holds the first one until
// released.
type orderStore struct {
	*memStore
	mu      sync.Mutex // guards got
	got     []cid.Cid
	gate    cid.Cid
	entered chan struct{}
	release chan struct{}
}

func (o *orderStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	o.mu.Lock()
	o.got = append(o.got, c)
	o.mu.Unlock()
	if c == o.gate {
		close(o.entered)
		select {
		case <-o.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return o.memStore.Get(ctx, c)
}

// TestDatedRequestsEarliestFirst: between version-2 nodes, requests queued
// behind a chunk in service are served earliest deadline first, whatever
// order they were sent in.
func TestDatedRequestsEarliestFirst(t *testing.T) {
	tr := newFakeTracker(t)
	os := &orderStore{memStore: newMemStore(), entered: make(chan struct{}), release: make(chan struct{})}
	queued := make(chan int64, 64)
	b := newTestNode(t, tr, func(o *Options) { o.Store = os })
	b.queueHook = func(q int64) { queued <- q }
	a := newTestNode(t, tr)
	ctx := testCtx(t)
	warm, wdata := os.put(t, 1000)
	gate, _ := os.put(t, 1000)
	os.gate = gate
	mustFetch(t, ctx, a, b.AddrInfo(), warm, wdata) // b's Hello has said version 2
	<-queued                                        // the warm-up's enqueue
	<-queued                                        // and its dequeue
	now := time.Now()
	held := a.StartFetch(ctx, b.ID(), gate, now)
	select {
	case <-os.entered:
	case <-ctx.Done():
		t.Fatal("the gated chunk never reached the store")
	}
	var cids []cid.Cid
	var pend []*PendingFetch
	for i := range 5 {
		c, _ := os.put(t, 1000)
		cids = append(cids, c)
		// Sent latest deadline first.
		pend = append(pend, a.StartFetch(ctx, b.ID(), c, now.Add(time.Duration(10-i)*time.Second)))
	}
	for q := int64(0); q != 5; { // the gated one is in service, not queued
		select {
		case q = <-queued:
		case <-ctx.Done():
			t.Fatal("the dated requests never queued")
		}
	}
	close(os.release)
	if _, err := held.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, f := range pend {
		if _, err := f.Wait(); err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
	}
	os.mu.Lock()
	defer os.mu.Unlock()
	got := os.got[2:]
	for i := range cids {
		if want := cids[len(cids)-1-i]; got[i] != want {
			t.Fatalf("served #%d: chunk sent %d-th; want earliest deadline first (order %v)", i, len(cids)-1-i, got)
		}
	}
}
