package node

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// Announcement pacing. A 10 GB cache holds about 2,000 tracks, and each
// full announcement is a closest-peers lookup (tens of DHT queries), so full
// announcements are rate-limited; putting a record straight to one peer is
// one message and may go faster.
const (
	// announceDebounce gathers routing table changes that come together
	// (a bootstrap adds several peers within milliseconds) into one round.
	announceDebounce = 200 * time.Millisecond
	// provideRate and provideBurst pace full announcements (lookups).
	provideRate  = 4
	provideBurst = 8
	// putRate and putBurst pace records put straight to one peer.
	putRate  = 200
	putBurst = 50
	// putTimeout bounds one direct record put.
	putTimeout = 5 * time.Second
	// closestPeers is how many peers closest to a key hold its records
	// (kad-dht's bucket size).
	closestPeers = 20
)

// announcer holds the announcement work waiting for the announcing
// goroutine (Node.announceLoop).
type announcer struct {
	mu       sync.Mutex           // guards the fields below
	all      bool                 // announce every held track with a lookup
	tracks   map[cid.Cid]struct{} // tracks to announce with a lookup
	newPeers map[peer.ID]struct{} // peers the routing table gained since the last round
	isolated bool                 // the routing table was empty at the last look: announce all once it is not

	wake chan struct{} // capacity 1: work was added

	provideLim *rate.Limiter // full announcements
	putLim     *rate.Limiter // direct record puts
}

func newAnnouncer() *announcer {
	return &announcer{
		tracks:     map[cid.Cid]struct{}{},
		newPeers:   map[peer.ID]struct{}{},
		isolated:   true,
		wake:       make(chan struct{}, 1),
		provideLim: rate.NewLimiter(provideRate, provideBurst),
		putLim:     rate.NewLimiter(putRate, putBurst),
	}
}

func (a *announcer) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// announceAll queues every held track for a full announcement.
func (a *announcer) announceAll() {
	a.mu.Lock()
	a.all = true
	a.mu.Unlock()
	a.poke()
}

// announceTrack queues one track for a full announcement.
func (a *announcer) announceTrack(c cid.Cid) {
	a.mu.Lock()
	a.tracks[c] = struct{}{}
	a.mu.Unlock()
	a.poke()
}

// peerAdded notes a peer the routing table gained. It runs inside the
// routing table's lock (kbucket's PeerAdded), so it must not call back into
// the table.
func (a *announcer) peerAdded(p peer.ID) {
	a.mu.Lock()
	a.newPeers[p] = struct{}{}
	a.mu.Unlock()
	a.poke()
}

// round is one batch of announcement work.
type round struct {
	all      bool
	tracks   []cid.Cid
	newPeers []peer.ID
}

// take empties the queue. With the routing table empty (size 0) it keeps
// the tracks queued and remembers to announce everything once a peer comes.
func (a *announcer) take(size int, held func() []cid.Cid) (round, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if size == 0 {
		a.isolated = true
		clear(a.newPeers)
		return round{}, false
	}
	var r round
	if a.isolated || a.all {
		r.all = true
		r.tracks = held()
		a.isolated, a.all = false, false
		clear(a.tracks)
		clear(a.newPeers) // the lookups reach them
		return r, true
	}
	for c := range a.tracks {
		r.tracks = append(r.tracks, c)
	}
	clear(a.tracks)
	for p := range a.newPeers {
		r.newPeers = append(r.newPeers, p)
	}
	clear(a.newPeers)
	return r, len(r.tracks) > 0 || len(r.newPeers) > 0
}

// requeue puts back tracks whose announcement failed; they go out in the
// next round, which the next routing table change starts.
func (a *announcer) requeue(cs []cid.Cid) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range cs {
		a.tracks[c] = struct{}{}
	}
}

// announceLoop runs the announcement rounds until the node closes.
func (n *Node) announceLoop() {
	a := n.ann
	for {
		select {
		case <-a.wake:
		case <-n.ctx.Done():
			return
		}
		// Debounce: let changes that come together join this round.
		settle := make(chan struct{})
		t := n.clock.AfterFunc(announceDebounce, func() { close(settle) })
		select {
		case <-settle:
		case <-n.ctx.Done():
			t.Stop()
			return
		}
		r, ok := a.take(n.dht.RoutingTable().Size(), n.Held)
		if !ok {
			continue
		}
		n.runRound(r)
	}
}

// runRound announces r's tracks with lookups and puts held records straight
// to each new peer that is among the closest to them.
func (n *Node) runRound(r round) {
	held := n.heldSet()
	var failed []cid.Cid
	for _, c := range r.tracks {
		if _, ok := held[c]; !ok {
			continue // dropped meanwhile
		}
		if err := n.ann.provideLim.Wait(n.ctx); err != nil {
			return
		}
		if err := n.announce(n.ctx, c); err != nil {
			if n.ctx.Err() != nil {
				return
			}
			n.log.Debug("announce", "track", c.String(), "err", err)
			failed = append(failed, c)
		}
	}
	n.ann.requeue(failed)
	if len(r.newPeers) == 0 {
		return
	}
	rt := n.dht.RoutingTable()
	for c := range held {
		near := rt.NearestPeers(kb.ConvertKey(string(c.Hash())), closestPeers)
		for _, p := range r.newPeers {
			for _, q := range near {
				if q != p {
					continue
				}
				if err := n.ann.putLim.Wait(n.ctx); err != nil {
					return
				}
				if err := n.putRecord(n.ctx, p, c); err != nil {
					n.log.Debug("put record to new peer", "track", c.String(), "remote", p.String(), "err", err)
				} else if n.hooks.put != nil {
					n.hooks.put(p, c)
				}
			}
		}
	}
}

// announce puts c's record to the record servers directly, then runs one
// full announcement of c (a closest-peers lookup and a record put to each).
func (n *Node) announce(ctx context.Context, c cid.Cid) error {
	ctx, cancel := context.WithTimeout(ctx, provideTimeout)
	defer cancel()
	// The servers first: one round trip makes the holder known to every
	// lookup, where the walk takes several.
	n.putToServers(ctx, c)
	err := n.dht.Provide(ctx, c, true)
	if err == nil && n.hooks.announced != nil {
		n.hooks.announced(c)
	}
	return err
}

// putToServers puts c's record to each record server (the bootstrap peers,
// always-on DHT servers that keep records across restarts), in parallel,
// and returns how many confirmed it.
func (n *Node) putToServers(ctx context.Context, c cid.Cid) int {
	servers := n.recordServers()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for _, ai := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.putRecord(ctx, ai.ID, c); err != nil {
				n.log.Debug("put record to server", "track", c.String(), "remote", ai.ID.String(), "err", err)
				return
			}
			mu.Lock()
			ok++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ok
}

// putRecord sends one provider record for c, naming this node and its
// addresses, straight to p.
func (n *Node) putRecord(ctx context.Context, p peer.ID, c cid.Cid) error {
	ctx, cancel := context.WithTimeout(ctx, putTimeout)
	defer cancel()
	pm, err := dhtpb.NewProtocolMessenger(n.dht.MessageSender())
	if err != nil {
		return err
	}
	if err := pm.PutProviderAddrs(ctx, p, c.Hash(), peer.AddrInfo{ID: n.host.ID(), Addrs: n.dht.FilteredAddrs()}); err != nil {
		return err
	}
	// The put has no answer: a ping on the same stream, answered after the
	// put was handled, confirms it (a play that exits right after
	// announcing would otherwise close the connection before the put is
	// read).
	return pm.Ping(ctx, p)
}

// recordServers returns the bootstrap peers last learnt, without this node.
func (n *Node) recordServers() []peer.AddrInfo {
	s, _ := n.recordServersTrusted()
	return s
}

// recordServersTrusted returns the record servers and whether they are
// always-on DHT servers (BootstrapList.Servers).
func (n *Node) recordServersTrusted() ([]peer.AddrInfo, bool) {
	n.bmu.Lock()
	defer n.bmu.Unlock()
	return n.servers, n.trusted
}

func (n *Node) heldSet() map[cid.Cid]struct{} {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	out := make(map[cid.Cid]struct{}, len(n.held))
	for c := range n.held {
		out[c] = struct{}{}
	}
	return out
}
