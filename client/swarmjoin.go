package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/node"
	"github.com/chorus-music/chorus/node/cache"
	"github.com/chorus-music/chorus/protocol"
)

// SwarmOptions configure JoinSwarm.
type SwarmOptions struct {
	// Dir holds the node's identity and held-track list (Dir/node) and the
	// chunk cache (Dir/cache). Required.
	Dir string
	// CacheDir, when set, holds the chunk cache instead of Dir/cache.
	CacheDir string
	// ListenAddrs are the node's QUIC multiaddrs; nil means loopback with
	// a random port.
	ListenAddrs []string
	// CacheMaxBytes bounds the cache; 0 means 10% of the free disk, at most
	// 10 GiB.
	CacheMaxBytes int64
	// Upload configures the node's serving.
	Upload node.UploadOptions
	// ServeStream, when set, wraps the node's inbound chunk streams (a
	// simulated peer's behaviour; see node.Options.ServeStream).
	ServeStream func(network.Stream) network.Stream
	// Announce offers the node to the tracker as a bootstrap peer.
	Announce bool
	// Registry receives the node's and the cache's metrics; nil means a
	// new one.
	Registry *prometheus.Registry
	// ListenUDP, when set, opens the node's UDP sockets (a link shaper).
	ListenUDP func(network string, laddr *net.UDPAddr) (net.PacketConn, error)
	Clock     clock.Clock
	Logger    *slog.Logger
}

// Membership is a joined swarm node with its cache.
type Membership struct {
	Node     *node.Node
	Cache    *cache.Cache
	Registry *prometheus.Registry
}

// Close stops the node and closes the cache.
func (m *Membership) Close() error {
	return errors.Join(m.Node.Close(), m.Cache.Close())
}

// JoinSwarm opens the chunk cache and starts a swarm node admitted by
// tickets from tr (which must be logged in) and bootstrapped from the
// tracker's list. Its Node and Cache go into Options.Swarm and
// Options.Cache.
func JoinSwarm(ctx context.Context, tr *Tracker, o SwarmOptions) (*Membership, error) {
	if o.Dir == "" {
		return nil, errors.New("client: SwarmOptions.Dir is required")
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cacheDir := o.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(o.Dir, "cache")
	}
	c, err := cache.Open(cache.Options{
		Dir:      cacheDir,
		MaxBytes: o.CacheMaxBytes,
		Clock:    o.Clock,
		Logger:   o.Logger.With("component", "cache"),
		Registry: o.Registry,
	})
	if err != nil {
		return nil, err
	}
	n, err := node.New(ctx, node.Options{
		DataDir:     filepath.Join(o.Dir, "node"),
		ListenAddrs: o.ListenAddrs,
		TrackerKeys: tr.PinnedKeys,
		Tickets: node.TicketFunc(func(ctx context.Context, p peer.ID) (protocol.Ticket, error) {
			return tr.Ticket(ctx, p.String())
		}),
		Bootstrap:   func(ctx context.Context) (node.BootstrapList, error) { return BootstrapPeers(ctx, tr) },
		Store:       c,
		Upload:      o.Upload,
		ServeStream: o.ServeStream,
		Registry:    o.Registry,
		Logger:      o.Logger.With("component", "node"),
		Clock:       o.Clock,
		ListenUDP:   o.ListenUDP,
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	m := &Membership{Node: n, Cache: c, Registry: o.Registry}
	if !o.Announce {
		return m, nil
	}
	var addrs []string
	for _, a := range n.Addrs() {
		addrs = append(addrs, a.String())
	}
	if err := tr.Announce(ctx, n.ID().String(), addrs); err != nil {
		m.Close()
		return nil, fmt.Errorf("client: announce node: %w", err)
	}
	return m, nil
}

// BootstrapPeers returns the tracker's bootstrap list: its always-on DHT
// servers and the further bootstrap peers.
func BootstrapPeers(ctx context.Context, tr *Tracker) (node.BootstrapList, error) {
	n, err := tr.Network(ctx)
	if err != nil {
		return node.BootstrapList{}, err
	}
	server := map[string]bool{}
	for _, s := range n.DHTServers {
		server[s] = true
	}
	var list node.BootstrapList
	for _, s := range n.Bootstrap {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return node.BootstrapList{}, fmt.Errorf("client: bootstrap peer %q: %w", s, err)
		}
		if server[s] {
			list.Servers = append(list.Servers, *ai)
		} else {
			list.Peers = append(list.Peers, *ai)
		}
	}
	return list, nil
}
