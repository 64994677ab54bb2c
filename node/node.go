package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/multiformats/go-multiaddr"
	"go.uber.org/fx"
	"golang.org/x/time/rate"

	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
)

// warmTag is the connection manager protection tag for warm peers.
const warmTag = "chorus-warm"

// chunkTag is the connection manager protection tag for peers with chunk
// work in flight (see holdPeer).
const chunkTag = "chorus-chunk"

// Node is one swarm member: a libp2p QUIC host that admits only ticketed
// peers, serves and fetches chunks, and announces held tracks in the private
// DHT. Its methods are safe for concurrent use.
type Node struct {
	opts    Options
	log     *slog.Logger
	clock   clock.Clock
	host    host.Host
	dht     *dht.IpfsDHT
	m       *metrics
	slots   chan struct{} // upload slots: a token is held per peer being served
	limiter *rate.Limiter // upload cap; nil means unlimited
	nudge   event.Emitter // EvtPeerProtocolsUpdated, to make the DHT re-check admitted peers

	// Chunk streams' write buffers, lent for a burst of writes
	// (burstWriter): responses, and requests.
	servePool, sessionPool *sync.Pool

	ctx          context.Context // cancelled by Close
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	bootstrapped chan struct{}

	amu         sync.Mutex // guards the fields below (admission)
	closed      bool
	ticket      protocol.Ticket
	ticketBytes []byte // encoded ticket; nil when we have none
	renewTimer  clock.Timer
	peers       map[peer.ID]*peerState
	rejected    map[peer.ID]rejection

	smu      sync.Mutex // guards the fields below (fetch sessions)
	sessions map[peer.ID]*session
	opening  map[peer.ID]chan struct{} // closed when an open attempt ends
	outboxes map[peer.ID]*outbox       // requests not yet written (StartFetch)

	cmu   sync.Mutex      // guards chunk
	chunk map[peer.ID]int // chunk requests in flight per peer, fetching or serving (see holdPeer)

	// slotRefused is when (UnixNano on the node's clock) a request was
	// last answered Busy for want of a free upload slot (see slotTurn).
	slotRefused atomic.Int64

	// admitHook, if set (tests, before any connection), is called after
	// each accepted ticket.
	admitHook func(peer.ID, protocol.Ticket)
	hooks     hooks // tests only
	// queueHook, if set (tests, before any connection), is called with the
	// number of requests queued on all streams after each change.
	queueHook func(queued int64)
	queued    atomic.Int64 // requests queued (not yet in service) on all streams

	rtMu     sync.Mutex    // guards rtSignal
	rtSignal chan struct{} // closed and replaced whenever the routing table gains a peer

	ann *announcer // announcement work for announceLoop

	bmu     sync.Mutex      // guards servers and trusted
	servers []peer.AddrInfo // the record servers last learnt (see BootstrapList)
	trusted bool            // servers are always-on DHT servers: a lookup they answer needs no walk

	hmu            sync.Mutex // guards the fields below (held tracks)
	held           map[cid.Cid]struct{}
	reprovideTimer clock.Timer
}

// dialTimeout bounds dialling a peer that is not connected, and looking up
// the addresses of one: providers stay listed until their records expire,
// long after they left, and each dead one must cost little.
const dialTimeout = 3 * time.Second

// New starts a node: it loads or creates the identity in opts.DataDir,
// fetches a ticket, listens, and joins the DHT through opts.Bootstrap in the
// background (see Bootstrapped). Close releases everything.
func New(ctx context.Context, opts Options) (*Node, error) {
	return newNode(ctx, opts, hooks{})
}

// hooks are called by a node in tests (set through newNode, before
// anything can call them).
type hooks struct {
	// announced is called after each successful full announcement.
	announced func(cid.Cid)
	// put is called after each record put straight to a new close peer.
	put func(peer.ID, cid.Cid)
}

// newNode is New with test hooks.
func newNode(ctx context.Context, opts Options, hk hooks) (*Node, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	priv, err := loadIdentity(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("node: identity: %w", err)
	}
	self, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("node: identity: %w", err)
	}
	held, err := loadHeld(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, fmt.Errorf("node: metrics: %w", err)
	}
	n := &Node{
		opts:         opts,
		log:          opts.Logger.With("peer", self.String()),
		clock:        opts.Clock,
		m:            m,
		slots:        make(chan struct{}, opts.Upload.Slots),
		servePool:    newWriterPool(64 << 10),
		sessionPool:  newWriterPool(32 << 10),
		bootstrapped: make(chan struct{}),
		peers:        make(map[peer.ID]*peerState),
		rejected:     make(map[peer.ID]rejection),
		sessions:     make(map[peer.ID]*session),
		opening:      make(map[peer.ID]chan struct{}),
		outboxes:     make(map[peer.ID]*outbox),
		chunk:        make(map[peer.ID]int),
		held:         make(map[cid.Cid]struct{}),
		rtSignal:     make(chan struct{}),
		ann:          newAnnouncer(),

		hooks: hk,
	}
	for _, c := range held {
		n.held[c] = struct{}{}
	}
	if bps := opts.Upload.BytesPerSecond; bps > 0 {
		n.limiter = rate.NewLimiter(rate.Limit(bps), limiterBurst(bps))
	}
	if err := n.setTicketFrom(ctx, self); err != nil {
		return nil, fmt.Errorf("node: first ticket: %w", err)
	}

	h, err := listen(priv, opts)
	if err != nil {
		return nil, fmt.Errorf("node: host: %w", err)
	}
	n.host = h
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.nudge, err = h.EventBus().Emitter(new(event.EvtPeerProtocolsUpdated))
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("node: event emitter: %w", err)
	}

	h.SetStreamHandler(protocol.AdmitProtocol, n.handleAdmit)
	h.SetStreamHandler(protocol.ChunkProtocol, n.handleChunk)
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { n.onConnected(c) },
		DisconnectedF: func(_ network.Network, c network.Conn) { n.onDisconnected(c) },
	})

	n.dht, err = newDHT(n)
	if err != nil {
		n.nudge.Close()
		h.Close()
		return nil, fmt.Errorf("node: dht: %w", err)
	}

	n.amu.Lock()
	n.scheduleRenewLocked()
	n.amu.Unlock()
	n.hmu.Lock()
	n.scheduleReprovideLocked()
	n.hmu.Unlock()

	addrSub, err := h.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		n.dht.Close()
		n.nudge.Close()
		h.Close()
		return nil, fmt.Errorf("node: event subscription: %w", err)
	}
	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		n.announceLoop()
	}()
	go func() {
		defer n.wg.Done()
		n.watchAddrs(addrSub)
	}()
	go func() {
		defer n.wg.Done()
		defer close(n.bootstrapped)
		if err := n.Bootstrap(n.ctx); err != nil && n.ctx.Err() == nil {
			n.log.Warn("bootstrap", "err", err)
		}
		// Held tracks go out once the routing table holds a peer (at once
		// if it does now).
		n.ann.announceAll()
	}()
	n.log.Info("node started", "addrs", h.Addrs())
	return n, nil
}

// listen builds the host on the listen addresses saved by the last run
// (keeping the port across restarts, so records and bootstrap entries stay
// valid), or on opts.ListenAddrs if there are none or they cannot be bound
// now, and saves the addresses bound.
func listen(priv crypto.PrivKey, opts Options) (host.Host, error) {
	if saved := savedListenAddrs(opts.DataDir, opts.ListenAddrs); saved != nil {
		o := opts
		o.ListenAddrs = saved
		if h, err := newHost(priv, o); err == nil {
			return h, nil
		}
	}
	h, err := newHost(priv, opts)
	if err != nil {
		return nil, err
	}
	if err := saveListenAddrs(opts.DataDir, opts.ListenAddrs, h.Network().ListenAddresses()); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// watchAddrs re-announces every held track when the node's addresses
// change (the records carry them), until sub is closed.
func (n *Node) watchAddrs(sub event.Subscription) {
	defer sub.Close()
	first := true
	for {
		select {
		case ev, ok := <-sub.Out():
			if !ok {
				return
			}
			e, _ := ev.(event.EvtLocalAddressesUpdated)
			if first {
				first = false // the addresses the node started with
				continue
			}
			added := slices.ContainsFunc(e.Current, func(u event.UpdatedAddress) bool { return u.Action == event.Added })
			if !added && len(e.Removed) == 0 {
				continue
			}
			n.log.Info("addresses changed: announcing held tracks again", "addrs", fmt.Sprint(n.host.Addrs()))
			n.ann.announceAll()
		case <-n.ctx.Done():
			return
		}
	}
}

// newHost builds the libp2p host: QUIC only, explicit listen addresses, fixed
// resource limits, explicit connection manager watermarks, no relay, no NAT
// port mapping, no hole punching, metrics on the node's own registry.
func newHost(priv crypto.PrivKey, o Options) (host.Host, error) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits(o.Conns.MaxConns)),
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: o.Conns.MaxConns}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: o.Conns.MaxConns}},
		))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(o.Conns.LowWater, o.Conns.HighWater, connmgr.WithGracePeriod(o.Conns.GracePeriod))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	lopts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.NoTransports,
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.ListenAddrStrings(o.ListenAddrs...),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		// Every dial, the DHT's included, gives up on a dead peer soon.
		libp2p.WithDialTimeout(dialTimeout),
		// libp2p's dependency injection logs a failed start (a port in
		// use) at ERROR with its own source paths before New returns the
		// same error, which we wrap and report: keep it quiet.
		libp2p.WithFxOption(fx.NopLogger),
	}
	if o.ListenUDP != nil {
		fn := o.ListenUDP
		lopts = append(lopts, libp2p.QUICReuse(quicreuse.NewConnManager,
			quicreuse.OverrideListenUDP(func(network string, laddr *net.UDPAddr) (net.PacketConn, error) {
				return fn(network, laddr)
			})))
	}
	if o.Registry != nil {
		lopts = append(lopts, libp2p.PrometheusRegisterer(o.Registry))
	} else {
		lopts = append(lopts, libp2p.DisableMetrics())
	}
	h, err := libp2p.New(lopts...)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, err
	}
	return h, nil
}

// resourceLimits are the node's fixed (not autoscaled) resource limits. A
// swarm node holds at most maxConns connections, at most 8 per peer, at most
// 256 streams per peer (a DHT query, an admission stream and one chunk stream
// each way at a time in normal use), and 1 GiB of libp2p-accounted memory.
// Transient (not yet negotiated) connections and streams are capped lower.
func resourceLimits(maxConns int) rcmgr.ConcreteLimitConfig {
	conns := rcmgr.LimitVal(maxConns)
	return rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: conns, ConnsInbound: conns, ConnsOutbound: conns,
			Streams: 16 * conns, StreamsInbound: 8 * conns, StreamsOutbound: 8 * conns,
			FD: rcmgr.LimitVal(64), Memory: 1 << 30,
		},
		Transient: rcmgr.ResourceLimits{
			Conns: conns / 2, ConnsInbound: conns / 4, ConnsOutbound: conns / 2,
			Streams: 4 * conns, StreamsInbound: 2 * conns, StreamsOutbound: 2 * conns,
			FD: 32, Memory: 128 << 20,
		},
		ServiceDefault:      rcmgr.ResourceLimits{Streams: 16 * conns, Memory: 256 << 20},
		ServicePeerDefault:  rcmgr.ResourceLimits{Streams: 64, Memory: 32 << 20},
		ProtocolDefault:     rcmgr.ResourceLimits{Streams: 16 * conns, Memory: 512 << 20},
		ProtocolPeerDefault: rcmgr.ResourceLimits{Streams: 64, StreamsInbound: 32, StreamsOutbound: 32, Memory: 64 << 20},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: 8, ConnsInbound: 8, ConnsOutbound: 8,
			Streams: 256, StreamsInbound: 128, StreamsOutbound: 128,
			FD: 8, Memory: 64 << 20,
		},
		Conn:   rcmgr.ResourceLimits{Conns: 1, ConnsInbound: 1, ConnsOutbound: 1, FD: 1, Memory: 64 << 20},
		Stream: rcmgr.ResourceLimits{Streams: 1, StreamsInbound: 1, StreamsOutbound: 1, Memory: 16 << 20},
	}.Build(rcmgr.InfiniteLimits)
}

// limiterBurst is the token bucket depth: 64 KiB, or one second's worth if
// the cap is lower. Writes draw a quarter of it at a time, so the bucket
// does not have to be full (and waste tokens) before each write.
func limiterBurst(bps int64) int {
	const b = 64 << 10
	if bps < b {
		return int(bps)
	}
	return b
}

// Bootstrapped is closed once the first bootstrap attempt after New has
// finished (successfully or not). Held tracks are announced after it, in
// the background, at a bounded rate.
func (n *Node) Bootstrapped() <-chan struct{} { return n.bootstrapped }

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Addrs returns the node's listen addresses.
func (n *Node) Addrs() []multiaddr.Multiaddr { return n.host.Addrs() }

// AddrInfo returns the node's peer ID and listen addresses.
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// ConnectedPeers lists peers with an open connection (admitted or still in
// the admission window).
func (n *Node) ConnectedPeers() []peer.ID { return n.host.Network().Peers() }

// AdmittedPeers lists connected peers whose ticket is valid.
func (n *Node) AdmittedPeers() []peer.ID {
	var out []peer.ID
	for _, p := range n.host.Network().Peers() {
		if n.isAdmitted(p) {
			out = append(out, p)
		}
	}
	return out
}

// Connect opens a warm connection to ai, protected from the connection
// manager's trimming, and waits until the peer is admitted.
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if ai.ID == n.host.ID() {
		return fmt.Errorf("node: connect to self")
	}
	if err := n.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("node: connect %s: %w: %w", ai.ID, ErrPeerGone, err)
	}
	n.host.ConnManager().Protect(ai.ID, warmTag)
	if err := n.waitAdmitted(ctx, ai.ID); err != nil {
		n.host.ConnManager().Unprotect(ai.ID, warmTag)
		return fmt.Errorf("node: connect %s: %w", ai.ID, err)
	}
	return nil
}

// holdPeer protects p from the connection manager's trims while chunk work
// with it is in flight: each call counts one hold (a request we sent and
// await, or a stream we serve that holds an upload slot), and the protection
// ends with the last releasePeer. It uses its own tag, so warm protection
// (Connect) is untouched.
func (n *Node) holdPeer(p peer.ID) {
	n.cmu.Lock()
	defer n.cmu.Unlock()
	n.chunk[p]++
	if n.chunk[p] == 1 {
		n.host.ConnManager().Protect(p, chunkTag)
	}
}

// releasePeer drops k holds holdPeer counted for p.
func (n *Node) releasePeer(p peer.ID, k int) {
	if k <= 0 {
		return
	}
	n.cmu.Lock()
	defer n.cmu.Unlock()
	left := n.chunk[p] - k
	if left > 0 {
		n.chunk[p] = left
		return
	}
	delete(n.chunk, p)
	n.host.ConnManager().Unprotect(p, chunkTag)
}

// Disconnect drops the warm protection of p and closes its connections.
func (n *Node) Disconnect(p peer.ID) error {
	n.host.ConnManager().Unprotect(p, warmTag)
	return n.host.Network().ClosePeer(p)
}

// AddAddrs records addresses for p, so that Fetch can dial it cold.
func (n *Node) AddAddrs(ai peer.AddrInfo) {
	n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.AddressTTL)
}

// Close stops the node: timers, DHT, sessions, host.
func (n *Node) Close() error {
	n.amu.Lock()
	if n.closed {
		n.amu.Unlock()
		return nil
	}
	n.closed = true
	if n.renewTimer != nil {
		n.renewTimer.Stop()
	}
	n.amu.Unlock()
	n.hmu.Lock()
	if n.reprovideTimer != nil {
		n.reprovideTimer.Stop()
	}
	n.hmu.Unlock()
	n.cancel()
	var errs []error
	if err := n.dht.Close(); err != nil {
		errs = append(errs, fmt.Errorf("dht: %w", err))
	}
	n.smu.Lock()
	sessions := make([]*session, 0, len(n.sessions))
	for _, s := range n.sessions {
		sessions = append(sessions, s)
	}
	n.smu.Unlock()
	for _, s := range sessions {
		s.fail(ErrClosed)
	}
	n.nudge.Close()
	if err := n.host.Close(); err != nil {
		errs = append(errs, fmt.Errorf("host: %w", err))
	}
	n.wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("node: close: %w", errors.Join(errs...))
	}
	return nil
}

func (n *Node) isClosed() bool {
	n.amu.Lock()
	defer n.amu.Unlock()
	return n.closed
}

// Ping measures one round trip to p with libp2p's ping protocol over the
// open connection (dialling if needed): the path's round trip as every
// request on it sees it, including both hosts' network stacks.
func (n *Node) Ping(ctx context.Context, p peer.ID) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case res := <-ping.Ping(ctx, n.host, p):
		if res.Error != nil {
			return 0, fmt.Errorf("node: ping %s: %w", p, res.Error)
		}
		return res.RTT, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Latency returns the moving average of the round trips libp2p has
// measured to p (identify and ping feed it), or 0 if none is known.
func (n *Node) Latency(p peer.ID) time.Duration {
	return n.host.Peerstore().LatencyEWMA(p)
}
