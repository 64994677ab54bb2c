package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
)

// testTimeout bounds every wait in these tests; generous for a busy 2-core
// machine.
const testTimeout = 30 * time.Second

// fakeTracker signs tickets in tests, as the tracker would.
type fakeTracker struct {
	keyID string
	pub   ed25519.PublicKey
	priv  ed25519.PrivateKey
}

func newFakeTracker(t testing.TB) *fakeTracker {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeTracker{keyID: "k1", pub: pub, priv: priv}
}

func (tr *fakeTracker) keys() map[string]ed25519.PublicKey {
	return map[string]ed25519.PublicKey{tr.keyID: tr.pub}
}

func (tr *fakeTracker) sign(p string, issued time.Time, life time.Duration) protocol.Ticket {
	return protocol.SignTicket(protocol.TicketBody{
		Version:   protocol.TicketVersion,
		PeerID:    p,
		Account:   "acct-" + p[len(p)-6:],
		IssuedAt:  issued.Unix(),
		ExpiresAt: issued.Add(life).Unix(),
		KeyID:     tr.keyID,
	}, tr.priv)
}

// valid issues one-hour tickets on the wall clock.
func (tr *fakeTracker) valid() TicketSource {
	return TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
		return tr.sign(p.String(), time.Now(), time.Hour), nil
	})
}

// memStore is an in-memory Store.
type memStore struct {
	mu sync.Mutex // guards m
	m  map[cid.Cid][]byte
}

func newMemStore() *memStore { return &memStore{m: make(map[cid.Cid][]byte)} }

func (s *memStore) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[c]
	if !ok {
		return nil, errors.New("not found")
	}
	return b, nil
}

func (s *memStore) Has(c cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[c]
	return ok
}

// put stores random data of size n and returns its CID.
func (s *memStore) put(t testing.TB, n int) (cid.Cid, []byte) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	c := catalog.ChunkCID(b)
	s.mu.Lock()
	s.m[c] = b
	s.mu.Unlock()
	return c, b
}

var _ Store = (*memStore)(nil)

type testNode struct {
	*Node
	store *memStore
}

// newTestNode starts a loopback node in a temp dir, admitted by tr unless
// opts change Tickets. It is closed at the end of the test.
func newTestNode(t testing.TB, tr *fakeTracker, opts ...func(*Options)) *testNode {
	t.Helper()
	return newAnnouncingNode(t, tr, nil, opts...)
}

// newAnnouncingNode is newTestNode whose successful announcements are sent
// on announced (if not nil; give it room, or receive them all).
func newAnnouncingNode(t testing.TB, tr *fakeTracker, announced chan<- cid.Cid, opts ...func(*Options)) *testNode {
	t.Helper()
	st := newMemStore()
	o := Options{
		DataDir:      t.TempDir(),
		TrackerKeys:  tr.keys,
		Tickets:      tr.valid(),
		Store:        st,
		Registry:     prometheus.NewRegistry(),
		AdmitTimeout: 10 * time.Second,
	}
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var h hooks
	if announced != nil {
		h.announced = func(c cid.Cid) { announced <- c }
	}
	n, err := newNodeWith(t, ctx, o, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testNode{Node: n, store: st}
}

func newNodeWith(t testing.TB, ctx context.Context, o Options, h hooks) (*Node, error) {
	t.Helper()
	return newNode(ctx, o, h)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// mustFetch fetches c from p and checks it equals want.
func mustFetch(t testing.TB, ctx context.Context, n *testNode, ai peer.AddrInfo, c cid.Cid, want []byte) {
	t.Helper()
	got, err := n.FetchFrom(ctx, ai, c)
	if err != nil {
		t.Fatalf("FetchFrom(%s, %s) = %v; want data", ai.ID, c, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("FetchFrom(%s, %s) returned %d bytes that differ from the %d stored", ai.ID, c, len(got), len(want))
	}
}

// disconnectWatcher reports when n has no connection left to p. Subscribe
// before provoking the disconnection.
type disconnectWatcher struct {
	sub event.Subscription
	n   *Node
}

func watchDisconnect(t testing.TB, n *Node) *disconnectWatcher {
	t.Helper()
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return &disconnectWatcher{sub: sub, n: n}
}

// wait blocks until p is not connected to the watched node, or was seen
// disconnecting since the watch began (the DHT may dial it again at once).
func (w *disconnectWatcher) wait(ctx context.Context, p peer.ID) error {
	for {
		if w.n.host.Network().Connectedness(p) != network.Connected {
			return nil
		}
		select {
		case ev := <-w.sub.Out():
			if e, ok := ev.(event.EvtPeerConnectednessChanged); ok && e.Peer == p && e.Connectedness != network.Connected {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("peer %s still connected: %w", p, ctx.Err())
		}
	}
}
