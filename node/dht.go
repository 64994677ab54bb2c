package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	// DHTProtocolPrefix makes the DHT speak /chorus/kad/1.0.0, apart from
	// the public IPFS network.
	DHTProtocolPrefix = "/chorus"
	// bootstrapTimeout bounds one bootstrap attempt.
	bootstrapTimeout = time.Minute
	// provideTimeout bounds one announcement while re-providing.
	provideTimeout = time.Minute
	// defaultMaxProviders is FindProviders' max when given 0.
	defaultMaxProviders = 20
)

func newDHT(n *Node) (*dht.IpfsDHT, error) {
	self := n.host.ID()
	opts := []dht.Option{
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(DHTProtocolPrefix),
		dht.BootstrapPeersFunc(func() []peer.AddrInfo {
			ais, err := n.bootstrapPeers(n.ctx)
			if err != nil {
				n.log.Warn("bootstrap peers", "err", err)
			}
			return ais
		}),
		// Only admitted peers enter the routing table.
		dht.RoutingTableFilter(func(_ any, p peer.ID) bool { return n.isAdmitted(p) }),
		// Peers learnt from lookups are not admitted yet (we have not met
		// them); the guarded host makes each query wait for admission.
		// Known offenders are skipped.
		dht.QueryFilter(func(_ any, ai peer.AddrInfo) bool {
			return ai.ID != self && !n.isRejected(ai.ID)
		}),
	}
	if n.opts.DHT.LightBootstrap {
		opts = append(opts, dht.DisableAutoRefresh())
	}
	d, err := dht.New(&admittedHost{Host: n.host, n: n}, opts...)
	if err != nil {
		return nil, err
	}
	rt := d.RoutingTable()
	prev := rt.PeerAdded
	rt.PeerAdded = func(p peer.ID) {
		if prev != nil {
			prev(p)
		}
		n.rtMu.Lock()
		close(n.rtSignal)
		n.rtSignal = make(chan struct{})
		n.rtMu.Unlock()
	}
	return d, nil
}

// waitRoutingTable waits until the routing table holds a peer. kad-dht adds
// a peer only after checking that it answers a query, some time after the
// connection.
func (n *Node) waitRoutingTable(ctx context.Context) error {
	for {
		n.rtMu.Lock()
		ch := n.rtSignal
		n.rtMu.Unlock()
		if n.dht.RoutingTable().Size() > 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// RoutingTableSize reports how many peers the DHT routing table holds.
func (n *Node) RoutingTableSize() int { return n.dht.RoutingTable().Size() }

func (n *Node) bootstrapPeers(ctx context.Context) ([]peer.AddrInfo, error) {
	if n.opts.Bootstrap == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	ais, err := n.opts.Bootstrap(ctx)
	if err != nil {
		return nil, err
	}
	out := ais[:0:0]
	for _, ai := range ais {
		if ai.ID != n.host.ID() && ai.ID != "" {
			out = append(out, ai)
		}
	}
	return out, nil
}

// Bootstrap joins the DHT: it connects to the peers from Options.Bootstrap
// (waiting for their admission), then either runs a routing table refresh or,
// with DHT.LightBootstrap, a single lookup of its own ID. New runs it once in
// the background; call it again after losing all peers.
func (n *Node) Bootstrap(ctx context.Context) error {
	ais, err := n.bootstrapPeers(ctx)
	if err != nil {
		return fmt.Errorf("node: bootstrap peers: %w", err)
	}
	if len(ais) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   int
		errs []error
	)
	for _, ai := range ais {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.Connect(ctx, ai)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ok++
		}()
	}
	wg.Wait()
	if ok == 0 {
		return fmt.Errorf("node: bootstrap: no peer reachable: %w", errors.Join(errs...))
	}
	if err := n.waitRoutingTable(ctx); err != nil {
		return fmt.Errorf("node: bootstrap: routing table still empty: %w", err)
	}
	if n.opts.DHT.LightBootstrap {
		if _, err := n.dht.GetClosestPeers(ctx, string(n.host.ID())); err != nil {
			return fmt.Errorf("node: bootstrap self lookup: %w", err)
		}
		return nil
	}
	select {
	case err := <-n.dht.RefreshRoutingTable():
		if err != nil {
			return fmt.Errorf("node: bootstrap refresh: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("node: bootstrap refresh: %w", ctx.Err())
	}
	return nil
}

// Provide records track as held (persisted in DataDir, re-announced every
// DHT.ReprovideInterval and after a restart) and announces it in the DHT.
// Records are per track (its ID), never per chunk. The track stays held even
// if the announcement fails; the next re-provide retries it.
func (n *Node) Provide(ctx context.Context, track cid.Cid) error {
	if !track.Defined() {
		return fmt.Errorf("node: provide: undefined CID")
	}
	n.hmu.Lock()
	_, had := n.held[track]
	n.held[track] = struct{}{}
	var err error
	if !had {
		err = saveHeld(n.opts.DataDir, n.heldLocked())
	}
	n.hmu.Unlock()
	if err != nil {
		return fmt.Errorf("node: provide %s: %w", track, err)
	}
	if err := n.dht.Provide(ctx, track, true); err != nil {
		// Alone in the swarm, or the lookup failed: announce it again as
		// soon as the routing table gains a peer, not at the next
		// re-provide hours later.
		n.retryAnnouncement(track)
		return fmt.Errorf("node: provide %s: %w", track, err)
	}
	return nil
}

// retryAnnouncement queues a held track whose announcement failed and makes
// sure one goroutine retries the queue whenever the routing table gains a
// peer.
func (n *Node) retryAnnouncement(track cid.Cid) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	if _, held := n.held[track]; !held {
		return
	}
	if n.unannounced == nil {
		n.unannounced = map[cid.Cid]struct{}{}
	}
	n.unannounced[track] = struct{}{}
	if n.announcing {
		return
	}
	n.announcing = true
	go n.announcer()
}

// announcer retries failed announcements each time the routing table gains
// a peer, until none is left or the node closes.
func (n *Node) announcer() {
	for {
		n.rtMu.Lock()
		ch := n.rtSignal
		n.rtMu.Unlock()
		if n.dht.RoutingTable().Size() == 0 {
			select {
			case <-ch:
			case <-n.ctx.Done():
				return
			}
		}
		n.hmu.Lock()
		var todo []cid.Cid
		for c := range n.unannounced {
			if _, held := n.held[c]; held {
				todo = append(todo, c)
			}
		}
		clear(n.unannounced)
		n.hmu.Unlock()
		var failed []cid.Cid
		for _, c := range todo {
			ctx, cancel := context.WithTimeout(n.ctx, provideTimeout)
			if err := n.dht.Provide(ctx, c, true); err != nil {
				failed = append(failed, c)
			} else if n.announcedHook != nil {
				n.announcedHook(c)
			}
			cancel()
		}
		n.hmu.Lock()
		for _, c := range failed {
			n.unannounced[c] = struct{}{}
		}
		if len(n.unannounced) == 0 || n.ctx.Err() != nil {
			n.announcing = false
			n.hmu.Unlock()
			return
		}
		n.hmu.Unlock()
		// Wait for the routing table to change before trying again.
		select {
		case <-ch:
		case <-n.ctx.Done():
			n.hmu.Lock()
			n.announcing = false
			n.hmu.Unlock()
			return
		}
	}
}

// Unprovide stops announcing track (its records expire on their own).
func (n *Node) Unprovide(track cid.Cid) error {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	if _, ok := n.held[track]; !ok {
		return nil
	}
	delete(n.held, track)
	if err := saveHeld(n.opts.DataDir, n.heldLocked()); err != nil {
		return fmt.Errorf("node: unprovide %s: %w", track, err)
	}
	return nil
}

// Held lists the tracks the node announces.
func (n *Node) Held() []cid.Cid {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	return n.heldLocked()
}

func (n *Node) heldLocked() []cid.Cid {
	out := make([]cid.Cid, 0, len(n.held))
	for c := range n.held {
		out = append(out, c)
	}
	return out
}

// scheduleReprovideLocked arms the next re-announcement. Requires hmu held.
func (n *Node) scheduleReprovideLocked() {
	if n.ctx.Err() != nil {
		return
	}
	n.reprovideTimer = n.clock.AfterFunc(n.opts.DHT.ReprovideInterval, func() {
		n.hmu.Lock()
		n.scheduleReprovideLocked()
		n.hmu.Unlock()
		go n.reprovide()
	})
}

// reprovide announces every held track again.
func (n *Node) reprovide() {
	for _, c := range n.Held() {
		if n.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(n.ctx, provideTimeout)
		err := n.dht.Provide(ctx, c, true)
		cancel()
		if err != nil {
			n.log.Debug("re-provide", "track", c.String(), "err", err)
			n.retryAnnouncement(c)
		}
	}
}

// FindProviders returns up to max peers (0 means 20) that announced track,
// never this node. The DHT records their addresses in the peerstore, so
// Fetch can dial them.
func (n *Node) FindProviders(ctx context.Context, track cid.Cid, max int) ([]peer.AddrInfo, error) {
	if max <= 0 {
		max = defaultMaxProviders
	}
	self := n.host.ID()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []peer.AddrInfo
	for ai := range n.dht.FindProvidersAsync(ctx, track, max+1) {
		if ai.ID == self {
			continue
		}
		out = append(out, ai)
		if len(out) == max {
			break
		}
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, fmt.Errorf("node: find providers %s: %w", track, ctx.Err())
	}
	return out, nil
}
