package cluster

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/node/dhtserver"
	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/store/sqlite"
)

// Options configure a cluster.
type Options struct {
	// Dir holds every component's data. Required; the caller owns it.
	Dir string
	// Logger receives every component's logs; nil discards them.
	Logger *slog.Logger
	// Argon2 are the tracker's password hash costs; zero means its
	// defaults (tests pass cheap ones).
	Argon2 tracker.Argon2Params
	// LoginPolicy is the tracker's login throttling; zero fields take its
	// defaults. Every listener of a cluster logs in from 127.0.0.1, one
	// network where the world's listeners have many: a simulation that
	// starts many at once lifts the per-network attempt rate.
	LoginPolicy tracker.LoginPolicy
	// Clock is the tracker's and listeners' clock; nil means the wall clock.
	Clock clock.Clock
	// TicketTTL is the admission ticket lifetime; zero means the tracker's
	// default.
	TicketTTL time.Duration
	// WrapOriginUDP, when set, wraps the origin's UDP socket (HTTP/3), for
	// a link shaper. Nil means the plain socket.
	WrapOriginUDP func(net.PacketConn) (net.PacketConn, error)
	// DHTServer runs an always-on DHT server beside the tracker, as
	// `chorus tracker --dht-listen` does (node/dhtserver), at the head of
	// the bootstrap list; DHTListenUDP, when set, opens its sockets (a
	// link shaper).
	DHTServer    bool
	DHTListenUDP func(network string, laddr *net.UDPAddr) (net.PacketConn, error)
}

// Cluster is a running tracker and origin on loopback.
type Cluster struct {
	opts Options
	log  *slog.Logger

	Store      *sqlite.Store
	Tracker    *tracker.Server
	TrackerURL string
	Chunks     *origin.DirStore
	Origin     *origin.Server
	OriginURL  string
	// OriginCA is the dev CA that signs the origin's certificate.
	OriginCA *x509.CertPool

	// DHT is the always-on DHT server (Options.DHTServer), or nil.
	DHT *dhtserver.Server

	trackerHTTP  *http.Server
	cancelOrigin context.CancelFunc
	originDone   chan error

	mu        sync.Mutex // guards listeners
	listeners []*Listener
	wg        sync.WaitGroup
}

// Start starts a tracker and an origin on 127.0.0.1 with ephemeral ports.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("cluster: Options.Dir is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{opts: opts, log: log}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	var err error
	if c.Store, err = sqlite.Open(filepath.Join(opts.Dir, "tracker.db")); err != nil {
		return nil, err
	}
	if c.Chunks, err = origin.OpenDirStore(filepath.Join(opts.Dir, "chunks")); err != nil {
		return nil, err
	}
	cert, pool, err := origin.DevCertificate(filepath.Join(opts.Dir, "tls"), nil)
	if err != nil {
		return nil, err
	}
	c.OriginCA = pool
	ols, err := origin.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.OriginURL = ols.URL()
	if opts.WrapOriginUDP != nil {
		w, err := opts.WrapOriginUDP(ols.UDP)
		if err != nil {
			ols.Close()
			return nil, fmt.Errorf("cluster: wrap origin socket: %w", err)
		}
		ols.UDP = w
	}
	c.Origin, err = origin.New(origin.Options{Store: c.Chunks, TLS: origin.ServerTLSConfig(cert), Logger: log.With("component", "origin")})
	if err != nil {
		ols.Close()
		return nil, err
	}
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancelOrigin = cancel
	c.originDone = make(chan error, 1)
	go func() { c.originDone <- c.Origin.Serve(octx, ols.UDP, ols.TCP) }()

	c.Tracker, err = tracker.New(tracker.Options{
		Store:       c.Store,
		Clock:       opts.Clock,
		Logger:      log.With("component", "tracker"),
		Argon2:      opts.Argon2,
		LoginPolicy: opts.LoginPolicy,
		TicketTTL:   opts.TicketTTL,
		Origins:     []string{c.OriginURL},
	})
	if err != nil {
		return nil, err
	}
	if opts.DHTServer {
		c.DHT, err = dhtserver.Start(ctx, dhtserver.Options{
			Dir: filepath.Join(opts.Dir, "dht"), Listen: "/ip4/127.0.0.1/udp/0/quic-v1",
			Signer: c.Tracker.Keyring(), RecordLifetime: 48 * time.Hour, TicketTTL: ticketTTL(opts.TicketTTL),
			ListenUDP: opts.DHTListenUDP, Clock: opts.Clock, Logger: log.With("component", "dht-server"),
		})
		if err != nil {
			return nil, err
		}
		c.Tracker.SetDHTServers(c.DHT.BootstrapAddrs())
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cluster: tracker listener: %w", err)
	}
	c.TrackerURL = "http://" + tln.Addr().String()
	c.trackerHTTP = &http.Server{Handler: c.Tracker, ReadHeaderTimeout: 10 * time.Second}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.trackerHTTP.Serve(tln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("tracker server", "err", err)
		}
	}()
	ok = true
	return c, nil
}

// AddUser creates an account.
func (c *Cluster) AddUser(ctx context.Context, name, password string) error {
	return c.Tracker.CreateAccount(ctx, name, password)
}

// Ingest ingests audio files into the catalog and the origin's store.
func (c *Cluster) Ingest(ctx context.Context, paths ...string) ([]protocol.TrackSummary, error) {
	var out []protocol.TrackSummary
	for _, p := range paths {
		t, _, err := c.Tracker.Ingest(ctx, p, c.Chunks.Batch(), nil)
		if err != nil {
			return out, err
		}
		out = append(out, t)
	}
	return out, nil
}

// StopOrigin stops the origin server (to test plays without it).
func (c *Cluster) StopOrigin() error {
	if c.cancelOrigin == nil {
		return nil
	}
	c.cancelOrigin()
	c.cancelOrigin = nil
	return <-c.originDone
}

// Close stops every listener, the origin and the tracker.
func (c *Cluster) Close() error {
	c.mu.Lock()
	ls := c.listeners
	c.listeners = nil
	c.mu.Unlock()
	var errs []error
	for _, l := range ls {
		errs = append(errs, l.Close())
	}
	errs = append(errs, c.StopOrigin())
	if c.trackerHTTP != nil {
		// Give requests in flight a moment, then cut what is left: a
		// client's spare connection that never sent a request would
		// otherwise hold Shutdown for five seconds.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := c.trackerHTTP.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			err = c.trackerHTTP.Close()
			errs = append(errs, err)
		} else {
			errs = append(errs, err)
		}
		cancel()
	}
	c.wg.Wait()
	if c.DHT != nil {
		errs = append(errs, c.DHT.Close())
	}
	if c.Tracker != nil {
		errs = append(errs, c.Tracker.Close())
	}
	if c.Store != nil {
		errs = append(errs, c.Store.Close())
	}
	return errors.Join(errs...)
}

// TempDir makes a fresh data directory for a cluster.
func TempDir() (string, error) {
	return os.MkdirTemp("", "chorus-*")
}

// ticketTTL is the DHT server's ticket lifetime: the cluster's, or an hour
// (the node renews it either way).
func ticketTTL(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return time.Hour
}
