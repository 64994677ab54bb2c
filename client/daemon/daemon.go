package daemon

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/node"
	"github.com/chorus-music/chorus/node/cache"
	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/protocol"
)

// Options configure a Daemon.
type Options struct {
	// Paths are the config and cache directories. Required.
	Paths Paths
	// Config are the resolved settings (file, environment and flags).
	Config Config
	// API is the listener the local API serves on; the caller binds it
	// (loopback unless the user asked otherwise). Required.
	API net.Listener
	// Logger receives the daemon's logs; nil discards them.
	Logger *slog.Logger
	// Clock drives the playback clock, saves and retries; nil means the
	// wall clock.
	Clock clock.Clock
	// OriginHTTP talks to origins; nil builds a client from
	// Config.OriginCA and Config.OriginProto.
	OriginHTTP *http.Client
	// RetryEvery is how often the daemon tries again to reach the tracker
	// (or to find a session) while it cannot; zero means 5 s.
	RetryEvery time.Duration
	// ProbeEvery is how often an idle daemon calls the tracker, to know
	// whether it is reachable and to keep the session renewed; zero means
	// 30 s.
	ProbeEvery time.Duration
	// GiveUpAfter ends a play that no source delivers to for this long;
	// the status then says why (client.Options.GiveUpAfter). Zero means
	// the client's default.
	GiveUpAfter time.Duration
	// ListenUDP, when set, opens the swarm node's UDP sockets (a link
	// shaper, in benchmarks). Nil means ordinary sockets.
	ListenUDP func(network string, laddr *net.UDPAddr) (net.PacketConn, error)
}

// Daemon is a running listener daemon.
type Daemon struct {
	opts     Options
	cfg      Config
	log      *slog.Logger
	clock    clock.Clock
	apiKey   string
	cookie   string
	registry *prometheus.Registry
	metrics  *metrics
	tracker  *client.Tracker
	ownHTTP  bool // originHTTP was built here and is closed on exit
	origHTTP *http.Client
	srv      *http.Server
	mux      *http.ServeMux
	routes   []Route
	hosts    map[string]bool
	events   *hub
	audio    *audioSlot
	joined   chan struct{}   // closed once connected
	ctx      context.Context // cancelled when Run returns

	sharing   atomic.Bool
	reachable atomic.Bool

	mu sync.Mutex // guards the fields below
	// Set once connected.
	client  *client.Client
	node    *node.Node
	cache   *cache.Cache
	origins []client.ChunkSource
	connErr string // why the daemon is not connected, in words
	// Playing.
	cur       *play
	queue     []Track
	history   []Track
	lastErr   string
	manifests map[string]*catalog.Manifest
	keys      map[string]catalog.TrackKey // for tail reads of the current track only
	logins    map[string]time.Time        // one-time login tokens and their expiry
	savedAt   time.Time
	rate      rateSample

	saveMu   sync.Mutex    // guards pending
	pending  []byte        // state.json to write, or nil
	saveWake chan struct{} // capacity 1: pending was set
	writeMu  sync.Mutex    // serialises writes of state.json
	rateMu   sync.Mutex    // guards rateAt
	rateAt   time.Time     // when the byte counters were last read
}

// New checks the options, prepares the config directory (API key, cache
// migration) and returns a daemon ready to Run.
func New(opts Options) (*Daemon, error) {
	if opts.Paths.Config == "" || opts.Paths.Cache == "" {
		return nil, fmt.Errorf("%w: Paths.Config and Paths.Cache are required", ErrBadConfig)
	}
	if opts.API == nil {
		return nil, fmt.Errorf("%w: Options.API (the API listener) is required", ErrBadConfig)
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.RetryEvery < 0 || opts.ProbeEvery < 0 || opts.GiveUpAfter < 0 {
		return nil, fmt.Errorf("%w: negative RetryEvery, ProbeEvery or GiveUpAfter", ErrBadConfig)
	}
	if opts.RetryEvery == 0 {
		opts.RetryEvery = 5 * time.Second
	}
	if opts.ProbeEvery == 0 {
		opts.ProbeEvery = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Paths.Config, 0o700); err != nil {
		return nil, fmt.Errorf("daemon: config directory: %w", err)
	}
	if err := os.MkdirAll(opts.Paths.Cache, 0o700); err != nil {
		return nil, fmt.Errorf("daemon: cache directory: %w", err)
	}
	if _, err := MigrateCache(opts.Paths, log); err != nil {
		return nil, err
	}
	key, err := LoadAPIKey(opts.Paths)
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		opts:      opts,
		cfg:       opts.Config,
		log:       log,
		clock:     clock.Or(opts.Clock),
		apiKey:    key,
		cookie:    cookieValue(key),
		registry:  prometheus.NewRegistry(),
		events:    newHub(),
		audio:     newAudioSlot(),
		manifests: map[string]*catalog.Manifest{},
		keys:      map[string]catalog.TrackKey{},
		logins:    map[string]time.Time{},
		connErr:   "connecting to the tracker",
		joined:    make(chan struct{}),
		saveWake:  make(chan struct{}, 1),
	}
	d.sharing.Store(opts.Config.Sharing)
	if d.metrics, err = newMetrics(d.registry, d); err != nil {
		return nil, err
	}
	d.origHTTP = opts.OriginHTTP
	if d.origHTTP == nil {
		if d.origHTTP, err = originClient(opts.Config.OriginCA, opts.Config.OriginProto); err != nil {
			return nil, err
		}
		d.ownHTTP = true
	}
	if d.tracker, err = newTracker(opts.Paths, opts.Config.Tracker, 15*time.Second, opts.Clock, d.setReachable); err != nil {
		return nil, err
	}
	d.hosts = allowedHosts(opts.API.Addr())
	d.mux, d.routes = d.newMux()
	return d, nil
}

// originClient builds the HTTP client for origins.
func originClient(caFile, proto string) (*http.Client, error) {
	var roots *x509.CertPool
	if caFile != "" {
		var err error
		if roots, err = origin.LoadCertPool(caFile); err != nil {
			return nil, fmt.Errorf("%w: origin_ca: %w", ErrBadConfig, err)
		}
	}
	hc, err := origin.NewClientFor(proto, roots)
	if err != nil {
		return nil, fmt.Errorf("%w: origin_proto: %w", ErrBadConfig, err)
	}
	return hc, nil
}

// Connected is closed once the daemon has resumed its session and joined
// the swarm.
func (d *Daemon) Connected() <-chan struct{} { return d.joined }

// URL is the API's base URL, e.g. http://127.0.0.1:7474.
func (d *Daemon) URL() string { return "http://" + d.opts.API.Addr().String() }

// APIKey is the key programs send as X-API-Key.
func (d *Daemon) APIKey() string { return d.apiKey }

// Registry is the daemon's metrics registry (the node's and the cache's
// metrics included).
func (d *Daemon) Registry() *prometheus.Registry { return d.registry }

// LoginLink returns a new one-time link that sets the browser's session
// cookie; it is good for one use within an hour.
func (d *Daemon) LoginLink() string {
	tok := randomToken(24)
	d.mu.Lock()
	now := d.clock.Now()
	for t, exp := range d.logins {
		if now.After(exp) {
			delete(d.logins, t)
		}
	}
	d.logins[tok] = now.Add(time.Hour)
	d.mu.Unlock()
	return d.URL() + "/login?token=" + tok
}

// Run serves the API, connects to the tracker and the swarm (retrying
// while the tracker is away), and plays until ctx ends; then it saves the
// play state and stops everything.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.ctx = ctx
	d.srv = &http.Server{
		Handler:           d.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// The events and audio routes lift this for themselves.
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
		BaseContext:  func(net.Listener) context.Context { return ctx },
		ErrorLog:     slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	if err := writeFileAtomic(d.opts.Paths.addressFile(), []byte(d.URL()+"\n"), 0o600); err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- d.srv.Serve(d.opts.API) }()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.connectLoop(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.tickLoop(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.saver(ctx)
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("daemon: API server: %w", err)
	}
	cancel()
	wg.Wait()
	d.log.Info("daemon stopping")
	shutCtx, stop := context.WithTimeout(context.Background(), 2*time.Second)
	if serr := d.srv.Shutdown(shutCtx); serr != nil {
		d.srv.Close()
	}
	stop()
	return errors.Join(err, d.close())
}

// close saves the state and releases everything.
func (d *Daemon) close() error {
	var errs []error
	d.mu.Lock()
	if d.client != nil {
		errs = append(errs, d.saveStateLocked())
	}
	errs = append(errs, d.flushState())
	if d.cur != nil && d.cur.pb != nil {
		d.cur.pb.Close()
	}
	c, n, ch := d.client, d.node, d.cache
	d.mu.Unlock()
	if c != nil {
		errs = append(errs, c.Close())
	}
	if n != nil {
		errs = append(errs, n.Close())
	}
	if ch != nil {
		errs = append(errs, ch.Close())
	}
	d.tracker.Close()
	if d.ownHTTP {
		errs = append(errs, origin.CloseClient(d.origHTTP))
	}
	return errors.Join(errs...)
}

func (d *Daemon) setReachable(ok bool) {
	if d.reachable.Swap(ok) != ok {
		if ok {
			d.log.Info("tracker reachable")
		} else {
			d.log.Warn("tracker unreachable; cached and buffered plays go on")
		}
		d.events.notify()
	}
}

// wait waits for dur on the daemon's clock, or for ctx.
func (d *Daemon) wait(ctx context.Context, dur time.Duration) bool {
	ch := make(chan struct{})
	t := d.clock.AfterFunc(dur, func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// connectLoop resumes the session and joins the swarm, trying again every
// RetryEvery until it succeeds; then it probes the tracker every
// ProbeEvery (which also keeps the session renewed).
func (d *Daemon) connectLoop(ctx context.Context) {
	resume := true
	for {
		err := d.connect(ctx, resume)
		if err == nil {
			break
		}
		resume = errors.Is(err, ErrNotLoggedIn)
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		changed := d.connErr != err.Error()
		d.connErr = err.Error()
		d.mu.Unlock()
		if changed {
			d.log.Warn("not connected; retrying", "every", d.opts.RetryEvery, "err", err)
			d.events.notify()
		}
		if !d.wait(ctx, d.opts.RetryEvery) {
			return
		}
	}
	for d.wait(ctx, d.opts.ProbeEvery) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := d.tracker.Network(pctx); err != nil && ctx.Err() == nil {
			d.log.Debug("tracker probe failed", "err", err)
			if !errors.Is(err, client.ErrUnauthorized) {
				d.setReachable(false)
			}
		}
		cancel()
	}
}

// connect does one attempt at resuming the session and joining the swarm.
//
// With resume, it takes up the session in session.json first: at the
// first attempt, and after one that found no usable session (a `chorus
// login` since then is what counts). Otherwise the session in memory,
// maybe renewed since, goes on.
func (d *Daemon) connect(ctx context.Context, resume bool) error {
	if resume {
		if err := resumeSession(d.opts.Paths, d.tracker, d.cfg.Tracker); err != nil {
			return err
		}
	}
	account := d.tracker.Account()
	// The first request renews the session if its access token expired.
	netinfo, err := d.tracker.Network(ctx)
	if errors.Is(err, client.ErrUnauthorized) {
		return fmt.Errorf("%w: the stored session of %s has expired or was revoked (run chorus login again)", ErrNotLoggedIn, account)
	}
	if err != nil {
		return fmt.Errorf("%w: network info: %w", ErrTrackerUnreachable, err)
	}
	d.log.Info("session resumed", "account", account)
	var origins []client.ChunkSource
	for _, u := range netinfo.Origins {
		src, err := client.NewOriginSource(u, d.origHTTP)
		if err != nil {
			return err
		}
		origins = append(origins, src)
	}
	ch, err := cache.Open(cache.Options{
		Dir:      d.opts.Paths.cacheDir(),
		MaxBytes: d.cfg.CacheMaxBytes,
		Clock:    d.opts.Clock,
		Logger:   d.log.With("component", "cache"),
		Registry: d.registry,
	})
	if err != nil {
		return fmt.Errorf("daemon: open the chunk cache in %s: %w", d.opts.Paths.cacheDir(), err)
	}
	tr := d.tracker
	n, err := node.New(ctx, node.Options{
		DataDir:     d.opts.Paths.nodeDir(),
		ListenAddrs: d.cfg.NodeListen,
		TrackerKeys: tr.PinnedKeys,
		Tickets: node.TicketFunc(func(ctx context.Context, p peer.ID) (protocol.Ticket, error) {
			return tr.Ticket(ctx, p.String())
		}),
		Bootstrap: func(ctx context.Context) (node.BootstrapList, error) { return client.BootstrapPeers(ctx, tr) },
		Store:     sharedStore{c: ch, on: &d.sharing},
		Upload:    node.UploadOptions{Slots: d.cfg.UploadSlots, BytesPerSecond: d.cfg.UploadBytesPerSecond},
		Registry:  d.registry,
		Logger:    d.log.With("component", "node"),
		Clock:     d.opts.Clock,
		ListenUDP: d.opts.ListenUDP,
	})
	if err != nil {
		// A cache that was opened must be closed before a retry, or the
		// next Open reindexes under a second owner.
		ch.Close()
		return fmt.Errorf("daemon: start the swarm node: %w", err)
	}
	var addrs []string
	for _, a := range n.Addrs() {
		addrs = append(addrs, a.String())
	}
	if err := tr.Announce(ctx, n.ID().String(), addrs); err != nil {
		d.log.Warn("could not offer this node as a bootstrap peer", "err", err)
	}
	c, err := client.New(client.Options{
		Tracker: tr,
		Origins: origins,
		Clock:   d.opts.Clock,
		Logger:  d.log.With("component", "client"),
		Swarm:   n,
		Cache:   ch,
		Sched:   sched.Config{Speed: d.cfg.Speed},

		GiveUpAfter: d.opts.GiveUpAfter,
	})
	if err != nil {
		n.Close()
		ch.Close()
		return err
	}
	d.mu.Lock()
	d.client, d.node, d.cache, d.origins = c, n, ch, origins
	d.connErr = ""
	d.mu.Unlock()
	d.log.Info("daemon connected", "peer", n.ID().String(), "addrs", fmt.Sprint(n.Addrs()),
		"cache", d.opts.Paths.cacheDir(), "cache_bytes", ch.Size(), "held_tracks", len(n.Held()), "sharing", d.sharing.Load())
	d.restoreState(ctx)
	go d.prepareHeld(ctx, n.Held())
	close(d.joined)
	d.events.notify()
	return nil
}

// prepareHeld fetches manifests and keys of the tracks the cache holds,
// into the client's memory, so they play while the tracker is away.
func (d *Daemon) prepareHeld(ctx context.Context, held []cid.Cid) {
	const maxPrepared = 200
	for i, id := range held {
		if i >= maxPrepared || ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		c := d.client
		d.mu.Unlock()
		if err := c.Prepare(ctx, id.String()); err != nil {
			d.log.Debug("prepare held track", "track", id.String(), "err", err)
		}
	}
}

// sharedStore is the node's view of the cache: empty while sharing is
// off, so the node answers DontHave.
type sharedStore struct {
	c  *cache.Cache
	on *atomic.Bool
}

var _ node.Store = sharedStore{}

func (s sharedStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if !s.on.Load() {
		return nil, cache.ErrNotFound
	}
	return s.c.Get(ctx, c)
}

func (s sharedStore) Has(c cid.Cid) bool { return s.on.Load() && s.c.Has(c) }
