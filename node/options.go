package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
)

// Store is where the node finds chunks to serve. node/cache.Cache satisfies
// it. Get must return the exact bytes whose CID is c (the ciphertext).
type Store interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	Has(c cid.Cid) bool
}

// TicketSource issues this node's admission ticket; the client implements it
// against the tracker's POST /v1/tickets.
type TicketSource interface {
	Ticket(ctx context.Context, p peer.ID) (protocol.Ticket, error)
}

// TicketFunc adapts a function to TicketSource.
type TicketFunc func(ctx context.Context, p peer.ID) (protocol.Ticket, error)

// Ticket calls f.
func (f TicketFunc) Ticket(ctx context.Context, p peer.ID) (protocol.Ticket, error) { return f(ctx, p) }

// Options configure a Node. The zero value of each field is documented; New
// rejects nonsense values with ErrInvalidOptions.
type Options struct {
	// DataDir holds the node's identity key (identity.key, created 0600 on
	// first start and reused afterwards) and the list of tracks it provides
	// (provided-tracks, re-announced after a restart). "" means an
	// ephemeral identity and nothing persisted.
	DataDir string

	// ListenAddrs are QUIC multiaddrs to listen on. Nil means
	// DefaultListenAddr (loopback, random port); the node never listens on
	// 0.0.0.0 unless told to.
	ListenAddrs []string

	// TrackerKeys returns the tracker's pinned signing keys (key ID to
	// public key), consulted on every ticket check so key rotation takes
	// effect at once. Required.
	TrackerKeys func() map[string]ed25519.PublicKey

	// Tickets issues this node's own ticket. New fetches one and fails if it
	// cannot; the node renews it at 2/3 of its remaining lifetime on Clock
	// and re-sends it to connected peers. A zero Ticket (empty PeerID) is
	// accepted and sent as "no ticket" (tests of hostile peers use this).
	// Required.
	Tickets TicketSource

	// Bootstrap returns the peers to join the DHT through (the client fills
	// it from the tracker's /v1/network): the always-on DHT servers and
	// further peers. Nil means no bootstrap: the node is the first one, or
	// peers find it.
	Bootstrap func(ctx context.Context) (BootstrapList, error)

	// Store serves chunks to peers. Nil means the node holds nothing and
	// answers every request DontHave.
	Store Store

	Upload UploadOptions
	DHT    DHTOptions
	Conns  ConnOptions

	// AdmitTimeout bounds the wait for a peer's ticket after a connection
	// opens (and the wait of a DHT or chunk stream for it); a peer without
	// a valid ticket by then is disconnected. Zero means 10 s.
	AdmitTimeout time.Duration

	// Registry receives the node's and libp2p's metrics. Nil means metrics
	// are kept but not exported, and libp2p's are disabled. Never the
	// global registry: many nodes share a process in tests.
	Registry *prometheus.Registry

	// Logger: nil means discard.
	Logger *slog.Logger

	// Clock times ticket renewal, re-providing and admission timeouts. Nil
	// means the wall clock. (libp2p, QUIC and the upload rate limiter pace
	// real sockets on real time.)
	Clock clock.Clock

	// ListenUDP, if set, opens the UDP sockets QUIC uses (passed to
	// quicreuse.OverrideListenUDP), so a link shaper can wrap them. Nil
	// means ordinary UDP sockets.
	ListenUDP func(network string, laddr *net.UDPAddr) (net.PacketConn, error)

	// ServeStream, if set, wraps each inbound chunk stream before the node
	// reads its first frame, as ListenUDP wraps sockets: a simulation gives
	// a peer its behaviour there. Nil serves streams as they are.
	ServeStream func(network.Stream) network.Stream
}

// BootstrapList is what Options.Bootstrap returns.
type BootstrapList struct {
	// Servers are always-on DHT servers (`chorus tracker --dht-listen`),
	// the record servers: every announcement is put to them first, and a
	// lookup asks them first and walks the DHT only when none of them
	// names a holder in time (see FindProviders).
	Servers []peer.AddrInfo
	// Peers are further nodes to join through (listeners that announced
	// themselves). With no Servers they are asked and put to as record
	// servers are, but a lookup always walks the DHT as well.
	Peers []peer.AddrInfo
}

// UploadOptions cap what the node serves to peers.
type UploadOptions struct {
	// Slots is how many peers are served at once; a request from a further
	// peer is answered Busy. A peer holds a slot while it has requests
	// queued or in service. Zero means 4 (as Spotify's client).
	Slots int
	// BytesPerSecond caps upload bandwidth over all peers with a token
	// bucket on real time. Zero means unlimited.
	BytesPerSecond int64
	// Disabled answers every request Busy.
	Disabled bool
	// MaxQueuePerPeer bounds requests queued on one stream; beyond it
	// requests are answered Busy. Zero means 64.
	MaxQueuePerPeer int
}

// DHTOptions tune discovery.
type DHTOptions struct {
	// LightBootstrap turns kad-dht's periodic routing table refresh off and
	// joins with a single lookup of the node's own ID: much cheaper for
	// simulations of hundreds of nodes in one process.
	LightBootstrap bool
	// ReprovideInterval is how often held tracks are announced again.
	// Zero means 12 h, well inside the records' lifetime (48 h). Must be
	// under 48 h.
	ReprovideInterval time.Duration
	// Records holds the provider records this node stores for others. Nil
	// means in memory, lost when the node stops; an always-on DHT server
	// passes a persistent store (node/dhtstore).
	Records ds.Batching
	// RecordLifetime is how long this node keeps a provider record (and
	// the provider's addresses) after the provider last announced it.
	// Zero means 48 h, kad-dht's lifetime; it must be longer than the
	// ReprovideInterval providers use, or records lapse between
	// announcements.
	RecordLifetime time.Duration
}

// ConnOptions tune the connection manager and resource limits.
type ConnOptions struct {
	// LowWater and HighWater are the connection manager's watermarks: past
	// HighWater it trims unprotected connections down to LowWater. Zero
	// means 50 and 60 (Spotify kept 50-60 neighbours).
	LowWater, HighWater int
	// GracePeriod is how long a new connection is spared from trims. Zero
	// means a minute (the connection manager's default).
	GracePeriod time.Duration
	// MaxConns is the resource manager's hard system limit on connections
	// (inbound and outbound each get the same limit). Zero means 512.
	MaxConns int
}

// DefaultListenAddr is used when Options.ListenAddrs is nil.
const DefaultListenAddr = "/ip4/127.0.0.1/udp/0/quic-v1"

// Defaults for zero Options fields.
const (
	DefaultSlots             = 4
	DefaultMaxQueuePerPeer   = 64
	DefaultAdmitTimeout      = 10 * time.Second
	DefaultReprovideInterval = 12 * time.Hour
	DefaultLowWater          = 50
	DefaultHighWater         = 60
	DefaultGracePeriod       = time.Minute
	DefaultMaxConns          = 512

	// provideValidity is kad-dht v0.42.1's provider record lifetime.
	provideValidity = 48 * time.Hour
)

// withDefaults validates o and fills zero fields.
func (o Options) withDefaults() (Options, error) {
	bad := func(format string, args ...any) (Options, error) {
		return o, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	if o.TrackerKeys == nil {
		return bad("TrackerKeys is required")
	}
	if o.Tickets == nil {
		return bad("Tickets is required")
	}
	if o.ListenAddrs == nil {
		o.ListenAddrs = []string{DefaultListenAddr}
	}
	if len(o.ListenAddrs) == 0 {
		return bad("ListenAddrs is empty")
	}
	switch {
	case o.Upload.Slots == 0:
		o.Upload.Slots = DefaultSlots
	case o.Upload.Slots < 0:
		return bad("Upload.Slots %d < 0", o.Upload.Slots)
	}
	if o.Upload.BytesPerSecond < 0 {
		return bad("Upload.BytesPerSecond %d < 0", o.Upload.BytesPerSecond)
	}
	switch {
	case o.Upload.MaxQueuePerPeer == 0:
		o.Upload.MaxQueuePerPeer = DefaultMaxQueuePerPeer
	case o.Upload.MaxQueuePerPeer < 0:
		return bad("Upload.MaxQueuePerPeer %d < 0", o.Upload.MaxQueuePerPeer)
	}
	switch {
	case o.AdmitTimeout == 0:
		o.AdmitTimeout = DefaultAdmitTimeout
	case o.AdmitTimeout < 0:
		return bad("AdmitTimeout %v < 0", o.AdmitTimeout)
	}
	switch {
	case o.DHT.ReprovideInterval == 0:
		o.DHT.ReprovideInterval = DefaultReprovideInterval
	case o.DHT.ReprovideInterval < 0 || o.DHT.ReprovideInterval >= provideValidity:
		return bad("DHT.ReprovideInterval %v not in (0, %v)", o.DHT.ReprovideInterval, provideValidity)
	}
	switch {
	case o.DHT.RecordLifetime == 0:
		o.DHT.RecordLifetime = provideValidity
	case o.DHT.RecordLifetime < 0:
		return bad("DHT.RecordLifetime %v < 0", o.DHT.RecordLifetime)
	}
	if o.Conns.LowWater == 0 {
		o.Conns.LowWater = DefaultLowWater
	}
	if o.Conns.HighWater == 0 {
		o.Conns.HighWater = DefaultHighWater
	}
	if o.Conns.GracePeriod == 0 {
		o.Conns.GracePeriod = DefaultGracePeriod
	}
	if o.Conns.GracePeriod < 0 {
		return bad("Conns.GracePeriod %v negative", o.Conns.GracePeriod)
	}
	if o.Conns.LowWater < 0 || o.Conns.HighWater < o.Conns.LowWater {
		return bad("Conns watermarks low %d high %d", o.Conns.LowWater, o.Conns.HighWater)
	}
	switch {
	case o.Conns.MaxConns == 0:
		o.Conns.MaxConns = DefaultMaxConns
	case o.Conns.MaxConns < o.Conns.HighWater:
		return bad("Conns.MaxConns %d below HighWater %d", o.Conns.MaxConns, o.Conns.HighWater)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	return o, nil
}
