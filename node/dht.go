package node

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
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
	if n.opts.DHT.Records != nil {
		opts = append(opts, dht.ProviderDatastore(n.opts.DHT.Records))
	}
	opts = append(opts, dht.ProviderManagerOpts(
		records.ProvideValidity(n.opts.DHT.RecordLifetime),
		records.ProviderAddrTTL(n.opts.DHT.RecordLifetime),
	))
	d, err := dht.New(&admittedHost{Host: n.host, n: n}, opts...)
	if err != nil {
		return nil, err
	}
	// Both callbacks run inside the routing table's lock: they only note
	// the change.
	rt := d.RoutingTable()
	prevAdded, prevRemoved := rt.PeerAdded, rt.PeerRemoved
	rt.PeerAdded = func(p peer.ID) {
		if prevAdded != nil {
			prevAdded(p)
		}
		n.rtMu.Lock()
		close(n.rtSignal)
		n.rtSignal = make(chan struct{})
		n.rtMu.Unlock()
		n.ann.peerAdded(p)
	}
	rt.PeerRemoved = func(p peer.ID) {
		if prevRemoved != nil {
			prevRemoved(p)
		}
		n.ann.poke() // notices when the table runs empty
	}
	return d, nil
}

// RoutingTableChanged returns a channel that is closed at the next growth
// of the DHT routing table (a peer added); each growth closes the current
// channel and puts a new one in its place, so call it again after each
// wake. A client retries a lookup that found nothing when it fires.
func (n *Node) RoutingTableChanged() <-chan struct{} {
	n.rtMu.Lock()
	defer n.rtMu.Unlock()
	return n.rtSignal
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
	list, err := n.opts.Bootstrap(ctx)
	if err != nil {
		return nil, err
	}
	others := func(ais []peer.AddrInfo) []peer.AddrInfo {
		out := ais[:0:0]
		for _, ai := range ais {
			if ai.ID != n.host.ID() && ai.ID != "" {
				out = append(out, ai)
			}
		}
		return out
	}
	servers, peers := others(list.Servers), others(list.Peers)
	all := append(slices.Clip(servers), peers...)
	n.bmu.Lock()
	if n.trusted = len(servers) > 0; n.trusted {
		n.servers = servers
	} else {
		n.servers = all
	}
	n.bmu.Unlock()
	return all, nil
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
// DHT.ReprovideInterval and after a restart) and announces it in the DHT:
// with always-on DHT servers, it puts the record to them and returns once
// one has it, leaving the closest-peers announcement to the paced
// announcer; without, it runs the full announcement itself.
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
	if _, trusted := n.recordServersTrusted(); trusted && n.putToServers(ctx, track) > 0 {
		// An always-on server holds the record, and lookups ask it
		// first: the walk that also puts it to the closest peers is a
		// backup, for lookups while no server answers. It goes to the
		// paced queue after backupDelay instead of running now, when a
		// swarm whose listeners start together would run one per
		// listener at once (each a score of DHT queries, most on new
		// connections), in the seconds its first plays need the cores.
		// A track held already (a replay) had its walk when it was new,
		// and the re-provides keep it.
		if !had {
			n.clock.AfterFunc(n.backupDelay(track), func() {
				if n.ctx.Err() == nil {
					n.ann.announceTrack(track)
				}
			})
		}
		return nil
	}
	if err := n.announce(ctx, track); err != nil {
		// Alone in the swarm, or the lookup failed: announce it again
		// when the routing table next changes, not at the next
		// re-provide hours later.
		n.ann.announceTrack(track)
		return fmt.Errorf("node: provide %s: %w", track, err)
	}
	return nil
}

// Backup announcements: the walk for a track an always-on DHT server
// already holds waits backupAnnounceMin plus a share of
// backupAnnounceSpread that depends on the node and the track, so that
// listeners who began together do not walk together either. Every new
// holder of a track walks to the same 20 peers closest to its key: when a
// swarm takes up a track within minutes (a release, or a benchmark's
// start), those peers take every walk's queries on new connections, and
// past their watermarks trim connections that are re-dialled at once. At
// 125 listeners in one process, walks spread over a minute stalled 4% of
// plays, all in the minute their walks came due; spread over ten minutes,
// 0.1% (BENCHMARKS.md, issue 11). The record is insurance for lookups
// while no server answers, so its lateness costs nothing meanwhile.
const (
	backupAnnounceMin    = 30 * time.Second
	backupAnnounceSpread = 10 * time.Minute
)

// backupDelay is how long the backup walk for track waits: the same for a
// node and a track, spread over nodes and tracks.
func (n *Node) backupDelay(track cid.Cid) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(n.host.ID()))
	h.Write(track.Hash())
	return backupAnnounceMin + time.Duration(h.Sum64()%uint64(backupAnnounceSpread))
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

// scheduleReprovideLocked arms the next re-announcement of every held
// track. Requires hmu held.
func (n *Node) scheduleReprovideLocked() {
	if n.ctx.Err() != nil {
		return
	}
	n.reprovideTimer = n.clock.AfterFunc(n.opts.DHT.ReprovideInterval, func() {
		n.hmu.Lock()
		n.scheduleReprovideLocked()
		n.hmu.Unlock()
		n.ann.announceAll()
	})
}

// FindProviders returns up to max peers (0 means 20) that announced track,
// never this node. A node that has just started waits (within ctx) for its
// first bootstrap attempt, so that the lookup does not run on an empty
// routing table; a lookup that still finds nothing returns no providers and
// no error (retry when RoutingTableChanged fires).
//
// With always-on DHT servers (BootstrapList.Servers), which every
// announcement is put to, the servers are asked first, one round trip: when
// one of them names a holder within serverGrace, that answer is the
// lookup's, without a DHT walk (a walk costs a score of messages, which a
// swarm whose listeners start together pays many times over). Only when
// none names a holder in time does the lookup walk the DHT as well. Without
// servers it walks, and asks the bootstrap peers beside it.
//
// Providers the records name without addresses (a record server restarted
// since) are looked up in the DHT. The DHT records the addresses in the
// peerstore, so Fetch can dial them.
func (n *Node) FindProviders(ctx context.Context, track cid.Cid, max int) ([]peer.AddrInfo, error) {
	if max <= 0 {
		max = defaultMaxProviders
	}
	select {
	case <-n.bootstrapped:
	case <-n.RoutingTableChanged():
	case <-ctx.Done():
		return nil, fmt.Errorf("node: find providers %s: %w", track, ctx.Err())
	}
	self := n.host.ID()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	servers, trusted := n.recordServersTrusted()
	fromServers := make(chan []peer.AddrInfo, 1)
	go func() { fromServers <- n.askServers(lctx, servers, trusted, track) }()
	var out []peer.AddrInfo
	seen := map[peer.ID]bool{}
	add := func(ais []peer.AddrInfo) {
		for _, ai := range ais {
			if len(out) == max {
				return
			}
			if ai.ID == self || seen[ai.ID] {
				continue
			}
			seen[ai.ID] = true
			out = append(out, ai)
		}
	}
	walked := false
	answered := false
	if trusted {
		grace := time.NewTimer(serverGrace)
		select {
		case ais := <-fromServers:
			add(ais)
			answered = true
		case <-grace.C:
		case <-ctx.Done():
		}
		grace.Stop()
	}
	if len(out) == 0 && ctx.Err() == nil {
		walked = true
		for ai := range n.dht.FindProvidersAsync(lctx, track, max+1) {
			add([]peer.AddrInfo{ai})
			if len(out) == max {
				break
			}
		}
		// The servers' answers are awaited only when the walk found no
		// one: a slow server must not hold back holders already found.
		if !answered {
			if len(out) == 0 {
				add(<-fromServers)
			} else {
				select {
				case ais := <-fromServers:
					add(ais)
				default:
				}
			}
		}
	}
	cancel()
	n.log.Debug("find providers", "track", track.String(), "found", len(out), "walked", walked, "routing_table", n.dht.RoutingTable().Size())
	if len(out) == 0 && ctx.Err() != nil {
		return nil, fmt.Errorf("node: find providers %s: %w", track, ctx.Err())
	}
	n.resolveAddrs(ctx, out)
	return out, nil
}

// serverGrace is how long a lookup waits for the DHT servers' answer before
// it walks the DHT too: several round trips on any real path, well under a
// walk.
const serverGrace = 500 * time.Millisecond

// askServers asks the record servers directly for track's providers, in
// parallel and briefly: records that the servers keep outlive the
// listeners that also stored them, and a server is not always among the
// peers a lookup visits. With trusted (always-on) servers it returns as
// soon as one names a holder. The addresses found go into the peerstore.
func (n *Node) askServers(ctx context.Context, servers []peer.AddrInfo, trusted bool, track cid.Cid) []peer.AddrInfo {
	if len(servers) == 0 {
		return nil
	}
	pm, err := dhtpb.NewProtocolMessenger(n.dht.MessageSender())
	if err != nil {
		return nil
	}
	answers := make(chan []peer.AddrInfo, len(servers))
	for _, sv := range servers {
		go func() {
			ctx, cancel := context.WithTimeout(ctx, putTimeout)
			defer cancel()
			provs, _, err := pm.GetProviders(ctx, sv.ID, track.Hash())
			if err != nil {
				n.log.Debug("ask record server", "remote", sv.ID.String(), "err", err)
				answers <- nil
				return
			}
			var out []peer.AddrInfo
			for _, p := range provs {
				if len(p.Addrs) > 0 {
					n.host.Peerstore().AddAddrs(p.ID, p.Addrs, peerstore.AddressTTL)
				}
				out = append(out, *p)
			}
			answers <- out
		}()
	}
	var out []peer.AddrInfo
	for range servers {
		ais := <-answers
		out = append(out, ais...)
		if trusted && len(out) > 0 {
			break
		}
	}
	return out
}

// resolveAddrs fills in, with a DHT peer lookup each (in parallel, briefly),
// the addresses of providers listed without any that this node cannot
// already reach.
func (n *Node) resolveAddrs(ctx context.Context, ais []peer.AddrInfo) {
	var wg sync.WaitGroup
	for i := range ais {
		ai := &ais[i]
		if len(ai.Addrs) > 0 || len(n.host.Peerstore().Addrs(ai.ID)) > 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			if found, err := n.dht.FindPeer(ctx, ai.ID); err == nil {
				ai.Addrs = found.Addrs
			}
		}()
	}
	wg.Wait()
}
