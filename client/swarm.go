package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/node"
)

// Swarm is what the client needs of a swarm node (node.Node implements
// it): finding holders of a track, fetching chunks from peers, and
// announcing the tracks this node holds.
type Swarm interface {
	// FindProviders looks up, through the DHT, peers that hold the track.
	FindProviders(ctx context.Context, track cid.Cid, max int) ([]peer.AddrInfo, error)
	// ConnectedPeers lists the admitted peers connected now.
	ConnectedPeers() []peer.ID
	// Connect dials and admits a peer, and keeps the connection warm.
	Connect(ctx context.Context, ai peer.AddrInfo) error
	// Fetch asks a peer for a chunk; the returned data is already verified
	// against c.
	Fetch(ctx context.Context, p peer.ID, c cid.Cid) ([]byte, error)
	// Provide announces that this node holds the track.
	Provide(ctx context.Context, track cid.Cid) error
	// Latency is the measured round trip to a peer, 0 if unknown; it
	// seeds the scheduler's estimate before the player has its own.
	Latency(p peer.ID) time.Duration
}

// RoutingNotifier is implemented by a Swarm that reports the growth of its
// DHT routing table (node.Node does). The channel is closed at the next
// growth; each call after that returns a new one. The player then retries
// at once the lookups that found no one.
type RoutingNotifier interface {
	RoutingTableChanged() <-chan struct{}
}

var (
	_ Swarm           = (*node.Node)(nil)
	_ RoutingNotifier = (*node.Node)(nil)
)

// Cache is the local store of verified ciphertext chunks (node/cache.Cache
// implements it).
type Cache interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	Put(ctx context.Context, c cid.Cid, ciphertext []byte) error
	Has(c cid.Cid) bool
}

// PeerSource is one peer of the swarm as a chunk source.
type PeerSource struct {
	swarm Swarm
	id    peer.ID
}

var _ ChunkSource = (*PeerSource)(nil)

// NewPeerSource returns a source for peer id reached through s.
func NewPeerSource(s Swarm, id peer.ID) *PeerSource { return &PeerSource{swarm: s, id: id} }

// Name implements ChunkSource.
func (p *PeerSource) Name() string { return "peer " + p.id.String() }

// Kind implements ChunkSource.
func (p *PeerSource) Kind() SourceKind { return KindPeer }

// Fetch implements ChunkSource. Its failures are FetchErrors classified
// from node's errors.
func (p *PeerSource) Fetch(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := p.swarm.Fetch(ctx, p.id, c)
	if err != nil {
		return nil, p.classify(c, err)
	}
	return data, nil
}

// starter is a chunk source whose requests the player queues on its loop,
// in the order the scheduler issued them, and waits for off it: a step's
// requests to one peer then leave in one write, most urgent first, instead
// of racing for the stream from their goroutines.
type starter interface {
	start(ctx context.Context, c cid.Cid, deadline time.Time) func() ([]byte, error)
}

var _ starter = (*PeerSource)(nil)

// fetchStarter is what a Swarm offers for ordered requests (node.Node).
type fetchStarter interface {
	StartFetch(ctx context.Context, p peer.ID, c cid.Cid, deadline time.Time) *node.PendingFetch
}

// start queues the request at once when the swarm can (see starter),
// with the chunk's deadline for the serving peer.
func (p *PeerSource) start(ctx context.Context, c cid.Cid, deadline time.Time) func() ([]byte, error) {
	fs, ok := p.swarm.(fetchStarter)
	if !ok {
		return func() ([]byte, error) { return p.Fetch(ctx, c) }
	}
	f := fs.StartFetch(ctx, p.id, c, deadline)
	return func() ([]byte, error) {
		data, err := f.Wait()
		return data, p.classify(c, err)
	}
}

// classify turns a node error into a FetchError.
func (p *PeerSource) classify(c cid.Cid, err error) error {
	if err == nil {
		return nil
	}
	reason := peerFailReason(err)
	if errors.Is(err, node.ErrCorruptChunk) {
		err = fmt.Errorf("%w: %w", ErrCorruptChunk, err)
	}
	return &FetchError{Source: p.Name(), Reason: reason, Err: fmt.Errorf("peer %s: chunk %s: %w", p.id, c, err)}
}

// peerFailReason says what the scheduler makes of a failed fetch from a
// peer.
func peerFailReason(err error) sched.FailReason {
	switch {
	case errors.Is(err, node.ErrCorruptChunk):
		return sched.FailCorrupt
	case errors.Is(err, node.ErrNotAdmitted):
		return sched.FailCorrupt // never ask a peer we cannot admit again
	case errors.Is(err, node.ErrDontHave):
		return sched.FailDontHave
	case errors.Is(err, node.ErrBusy):
		return sched.FailBusy
	case errors.Is(err, context.DeadlineExceeded):
		return sched.FailTimeout
	}
	return sched.FailGone
}

// CacheSource is the local cache as a chunk source.
type CacheSource struct{ cache Cache }

var _ ChunkSource = CacheSource{}

// Name implements ChunkSource.
func (CacheSource) Name() string { return "cache" }

// Kind implements ChunkSource.
func (CacheSource) Kind() SourceKind { return KindCache }

// Fetch implements ChunkSource.
func (s CacheSource) Fetch(ctx context.Context, c cid.Cid) ([]byte, error) {
	return s.cache.Get(ctx, c)
}
