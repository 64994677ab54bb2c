package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/node"
	"github.com/chorus-music/chorus/node/cache"
	"github.com/chorus-music/chorus/origin"
)

// ListenerOptions configure one listener.
type ListenerOptions struct {
	// Name names the listener's data directory under the cluster's.
	Name string
	// User and Password log the listener in; the account must exist.
	User, Password string
	// OriginProto names the origin client as a listener's --origin-proto
	// does (origin.NewClientFor). Empty means h3, not a listener's auto:
	// the simulations shape only UDP (Options.WrapOriginUDP), and auto's
	// HTTP/2 fallback would reach the origin over unshaped TCP whenever a
	// loaded run's HTTP/3 is slower than its head start.
	OriginProto string
	// GiveUpAfter is the client's Options.GiveUpAfter; zero means its
	// default.
	GiveUpAfter time.Duration
	// Sched configures the client's scheduler (Speed for tests and the
	// demo); zero is a listener's real-time defaults.
	Sched sched.Config
	// Swarm gives the listener a swarm node and a chunk cache, so it
	// shares what it plays. False means origins only.
	Swarm bool
	// CacheMaxBytes bounds the cache; 0 means the cache's default.
	CacheMaxBytes int64
	// Upload configures the node's serving.
	Upload node.UploadOptions
	// ServeStream wraps the node's inbound chunk streams: a sim/fault
	// wrapper makes a hostile peer a real node.
	ServeStream func(network.Stream) network.Stream
	// NoAnnounce keeps the node from offering itself as a bootstrap peer.
	NoAnnounce bool
	// ListenUDP, when set, opens the node's UDP sockets (a link shaper).
	ListenUDP func(network string, laddr *net.UDPAddr) (net.PacketConn, error)
}

// Listener is one logged-in client.
type Listener struct {
	Name    string
	Dir     string
	Client  *client.Client
	Tracker *client.Tracker
	// Node and Cache are set for a swarm listener.
	Node  *node.Node
	Cache *cache.Cache
	// Metrics is the node's own registry.
	Metrics *prometheus.Registry

	originHTTP *http.Client
	closeOnce  sync.Once
	closeErr   error
}

// NewListener logs a client in and points it at the cluster's origin.
func (c *Cluster) NewListener(ctx context.Context, o ListenerOptions) (*Listener, error) {
	if o.Name == "" {
		return nil, errors.New("cluster: listener needs a Name")
	}
	l := &Listener{Name: o.Name, Dir: filepath.Join(c.opts.Dir, "listeners", o.Name)}
	proto := o.OriginProto
	if proto == "" {
		proto = "h3" // see ListenerOptions.OriginProto
	}
	var err error
	if l.originHTTP, err = origin.NewClientFor(proto, c.OriginCA); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			l.Close()
		}
	}()
	pins, err := client.OpenPins(filepath.Join(l.Dir, "tracker-keys.json"))
	if err != nil {
		return nil, err
	}
	l.Tracker, err = client.NewTracker(client.TrackerOptions{URL: c.TrackerURL, Clock: c.opts.Clock, Pins: pins})
	if err != nil {
		return nil, err
	}
	if err := l.Tracker.Login(ctx, o.User, o.Password); err != nil {
		return nil, err
	}
	netinfo, err := l.Tracker.Network(ctx)
	if err != nil {
		return nil, err
	}
	var origins []client.ChunkSource
	for _, u := range netinfo.Origins {
		src, err := client.NewOriginSource(u, l.originHTTP)
		if err != nil {
			return nil, err
		}
		origins = append(origins, src)
	}
	copts := client.Options{
		Tracker:     l.Tracker,
		Origins:     origins,
		Clock:       c.opts.Clock,
		Logger:      c.log.With("listener", o.Name),
		Sched:       o.Sched,
		GiveUpAfter: o.GiveUpAfter,
	}
	if o.Swarm {
		if err := l.startNode(ctx, c, o); err != nil {
			return nil, err
		}
		copts.Swarm, copts.Cache = l.Node, l.Cache
	}
	l.Client, err = client.New(copts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.listeners = append(c.listeners, l)
	c.mu.Unlock()
	ok = true
	return l, nil
}

// Close logs out and releases the listener's connections.
// It is safe to call more than once.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		if l.Client != nil {
			errs = append(errs, l.Client.Close())
		}
		if l.Node != nil {
			errs = append(errs, l.Node.Close())
		}
		if l.Cache != nil {
			errs = append(errs, l.Cache.Close())
		}
		if l.Tracker != nil && l.Tracker.Account() != "" {
			errs = append(errs, l.Tracker.Logout(context.Background()))
		}
		if l.Tracker != nil {
			l.Tracker.Close()
		}
		if l.originHTTP != nil {
			errs = append(errs, origin.CloseClient(l.originHTTP))
		}

		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// startNode joins the swarm with a node and cache in the listener's
// directory.
func (l *Listener) startNode(ctx context.Context, c *Cluster, o ListenerOptions) error {
	m, err := client.JoinSwarm(ctx, l.Tracker, client.SwarmOptions{
		Dir:           l.Dir,
		CacheMaxBytes: o.CacheMaxBytes,
		Upload:        o.Upload,
		ServeStream:   o.ServeStream,
		Announce:      !o.NoAnnounce,
		ListenUDP:     o.ListenUDP,
		Clock:         c.opts.Clock,
		Logger:        c.log.With("listener", o.Name),
	})
	if err != nil {
		return err
	}
	l.Node, l.Cache, l.Metrics = m.Node, m.Cache, m.Registry
	return nil
}

// CounterSum adds up every series of the counter named name in reg (0 when
// absent).
func CounterSum(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
