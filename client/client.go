package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
)

// Options configure a Client.
type Options struct {
	// Tracker is the logged-in (or about to log in) tracker client. Required.
	Tracker *Tracker
	// Origins are the origin sources, tried in order. At least one is
	// required until a peer source can serve every chunk.
	Origins []ChunkSource
	// OriginsFromNetwork, when set and Origins is empty, makes the origin
	// sources from the tracker's network list (Tracker.Network) at the
	// first play or queue, once the track's manifest and key are in: the
	// start request that fetched them brought the list, so a process that
	// knows only the tracker's URL pays no round trip of its own for it.
	// Its error fails that call (and the next one tries again).
	OriginsFromNetwork func(protocol.NetworkInfo) ([]ChunkSource, error)
	// Clock measures start latency and stalls; nil means the wall clock.
	Clock clock.Clock
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// Swarm, when set, lets the client fetch chunks from peers and announce
	// the tracks it holds. Nil means origins only.
	Swarm Swarm
	// Cache, when set, is checked before any network source and receives
	// every verified chunk. Nil means no local cache.
	Cache Cache
	// Sched configures the deadline scheduler (playback speed, buffer and
	// origin policy); its zero value is a listener's real-time defaults.
	Sched sched.Config
	// GiveUpAfter ends a play with a *StuckError (wrapping ErrNoSource and
	// the cause) when its playhead has waited or stalled this long with no
	// chunk arriving (every source down or failing, or none holds the
	// track), checked on a timer whether or not requests are in flight.
	// Zero means 15 s.
	GiveUpAfter time.Duration
	// MaxProviders bounds the DHT lookup per play; 0 means 20 (Spotify's
	// tracker remembered 20 peers per track).
	MaxProviders int
}

// Client plays tracks.
type Client struct {
	tracker  *Tracker
	clock    clock.Clock
	log      *slog.Logger
	schedCfg sched.Config
	swarm    Swarm
	cache    Cache
	maxProv  int
	giveUp   time.Duration

	mu          sync.Mutex                                        // guards the fields below
	originsFrom func(protocol.NetworkInfo) ([]ChunkSource, error) // nil once origins are known
	origins     []ChunkSource
	manifests   map[string]*catalog.Manifest
	keys        map[string]catalog.TrackKey
	player      *player
	closed      bool
	warmedAt    time.Time // when Prepare last opened the origin connections
}

// New returns a client.
func New(opts Options) (*Client, error) {
	if opts.Tracker == nil {
		return nil, errors.New("client: Options.Tracker is required")
	}
	if opts.GiveUpAfter < 0 {
		return nil, fmt.Errorf("client: negative GiveUpAfter %v", opts.GiveUpAfter)
	}
	if opts.GiveUpAfter == 0 {
		opts.GiveUpAfter = 15 * time.Second
	}
	if opts.MaxProviders < 0 {
		return nil, fmt.Errorf("client: negative MaxProviders %d", opts.MaxProviders)
	}
	if opts.MaxProviders == 0 {
		opts.MaxProviders = 20
	}
	if opts.Sched.Logger == nil {
		opts.Sched.Logger = opts.Logger
	}
	if _, err := sched.New(opts.Sched); err != nil {
		return nil, fmt.Errorf("client: scheduler options: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	originsFrom := opts.OriginsFromNetwork
	if len(opts.Origins) > 0 {
		originsFrom = nil
	}
	return &Client{
		tracker:     opts.Tracker,
		originsFrom: originsFrom,
		origins:     opts.Origins,
		clock:       clock.Or(opts.Clock),
		log:         log,
		schedCfg:    opts.Sched,
		swarm:       opts.Swarm,
		cache:       opts.Cache,
		maxProv:     opts.MaxProviders,
		giveUp:      opts.GiveUpAfter,
		manifests:   map[string]*catalog.Manifest{},
		keys:        map[string]catalog.TrackKey{},
	}, nil
}

// Prepare fetches and caches a track's manifest and key without playing it,
// so a later Play starts without tracker round trips.
//
// It also opens the origin connections in the background (a listener
// looking at a list is about to press play: the first chunk's race then
// starts on an open connection instead of paying a handshake), at most
// once per originWarmEvery.
func (c *Client) Prepare(ctx context.Context, trackID string) error {
	if _, _, err := c.manifestAndKey(ctx, trackID, nil); err != nil {
		return err
	}
	c.warmOrigins()
	return nil
}

// originWarmEvery spaces Prepare's origin warm-ups: well inside an idle
// QUIC connection's lifetime, so a list being browsed keeps it open.
const originWarmEvery = 10 * time.Second

// warmOrigins opens each origin's connection (Connect), off the caller.
func (c *Client) warmOrigins() {
	now := c.clock.Now()
	c.mu.Lock()
	if c.closed || (!c.warmedAt.IsZero() && now.Sub(c.warmedAt) < originWarmEvery) {
		c.mu.Unlock()
		return
	}
	c.warmedAt = now
	origins := slices.Clone(c.origins)
	c.mu.Unlock()
	for _, o := range origins {
		w, ok := o.(interface{ Connect(context.Context) error })
		if !ok {
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), originWarmTimeout)
			defer cancel()
			if err := w.Connect(ctx); err != nil {
				c.log.Debug("origin warm-up failed", "origin", o.Name(), "err", err)
			}
		}()
	}
}

// originWarmTimeout bounds one warm-up.
const originWarmTimeout = 5 * time.Second

func (c *Client) manifestAndKey(ctx context.Context, trackID string, stats *PlayStats) (*catalog.Manifest, catalog.TrackKey, error) {
	c.mu.Lock()
	m, haveM := c.manifests[trackID]
	k, haveK := c.keys[trackID]
	c.mu.Unlock()
	if stats != nil {
		stats.ManifestCached, stats.KeyCached = haveM, haveK
	}
	var err error
	switch {
	case !haveM && !haveK:
		// Both in one round trip (and a renewal with them, if due).
		if m, k, err = c.tracker.Start(ctx, trackID); err != nil {
			return nil, k, err
		}
	case !haveM:
		if m, err = c.tracker.Manifest(ctx, trackID); err != nil {
			return nil, k, err
		}
	}
	if !haveK && haveM {
		if k, err = c.tracker.Key(ctx, trackID); err != nil {
			return nil, k, err
		}
	}
	c.mu.Lock()
	c.manifests[trackID], c.keys[trackID] = m, k
	c.mu.Unlock()
	return m, k, nil
}

// Play starts playing a track from its beginning. The returned Playback
// fetches in the background until it is complete, closed, or replaced by
// the next Play; the caller must Close it. One track plays at a time.
func (c *Client) Play(ctx context.Context, trackID string) (*Playback, error) {
	return c.PlayFrom(ctx, trackID, 0)
}

// PlayFrom starts playing a track at a byte offset.
func (c *Client) PlayFrom(ctx context.Context, trackID string, offset int64) (*Playback, error) {
	start := c.clock.Now()
	tc, err := cid.Decode(trackID)
	if err != nil {
		return nil, fmt.Errorf("client: track ID %q: %w", trackID, err)
	}
	own := PlayStats{TrackID: trackID}
	m, key, err := c.manifestAndKey(ctx, trackID, &own)
	if err != nil {
		return nil, err
	}
	if offset < 0 || offset >= m.ByteLength {
		return nil, fmt.Errorf("client: start offset %d outside track of %d bytes", offset, m.ByteLength)
	}
	if err := c.resolveOrigins(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	noSource := len(c.origins) == 0 && c.swarm == nil && c.cache == nil
	c.mu.Unlock()
	if noSource {
		return nil, fmt.Errorf("client: play %s: %w: no origin, swarm or cache configured", trackID, ErrNoSource)
	}
	pl, err := c.getPlayer()
	if err != nil {
		return nil, err
	}
	pb := newPlayback(m, c.clock, start, offset, own, pl)
	if !pl.Start(pb, track{id: trackID, cid: tc, m: m, key: key}, offset) {
		return nil, ErrClosed
	}
	return pb, nil
}

// Queue tells the scheduler which tracks come next, so it looks up their
// peers, warms connections and prefetches their first chunks before the
// current track ends. It fetches their manifests and keys now.
func (c *Client) Queue(ctx context.Context, trackIDs ...string) error {
	var next []track
	for _, id := range trackIDs {
		tc, err := cid.Decode(id)
		if err != nil {
			return fmt.Errorf("client: track ID %q: %w", id, err)
		}
		m, key, err := c.manifestAndKey(ctx, id, nil)
		if err != nil {
			return err
		}
		next = append(next, track{id: id, cid: tc, m: m, key: key})
	}
	if err := c.resolveOrigins(ctx); err != nil {
		return err
	}
	pl, err := c.getPlayer()
	if err != nil {
		return err
	}
	if !pl.Queue(next) {
		return ErrClosed
	}
	return nil
}

// Lookup starts a DHT lookup for a track's holders without playing it, as
// when the track is shown or hovered in a list; a later Play finds them
// known.
func (c *Client) Lookup(trackID string) error {
	pl, err := c.getPlayer()
	if err != nil {
		return err
	}
	pl.Lookup(trackID)
	return nil
}

// Close stops the client's scheduler and every play.
func (c *Client) Close() error {
	c.mu.Lock()
	pl := c.player
	c.closed = true
	c.mu.Unlock()
	if pl != nil {
		pl.close()
	}
	return nil
}

// resolveOrigins makes the origin sources with Options.OriginsFromNetwork,
// once, for the plays to come.
func (c *Client) resolveOrigins(ctx context.Context) error {
	c.mu.Lock()
	from := c.originsFrom
	c.mu.Unlock()
	if from == nil {
		return nil
	}
	ni, err := c.tracker.Network(ctx)
	if err != nil {
		return fmt.Errorf("client: origins from the network list: %w", err)
	}
	srcs, err := from(ni)
	if err != nil {
		return fmt.Errorf("client: origins from the network list: %w", err)
	}
	c.mu.Lock()
	if c.originsFrom == nil {
		c.mu.Unlock()
		return nil // another call was first
	}
	c.origins, c.originsFrom = srcs, nil
	pl := c.player // started by a Lookup before any play
	c.mu.Unlock()
	if pl != nil && !pl.SetOrigins(srcs) {
		return ErrClosed
	}
	return nil
}

func (c *Client) getPlayer() (*player, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.player == nil {
		pl, err := newPlayer(playerConfig{
			sched:   c.schedCfg,
			clock:   c.clock,
			log:     c.log,
			giveUp:  c.giveUp,
			maxProv: c.maxProv,
		}, playerSources{origins: c.origins, swarm: c.swarm, cache: c.cache}, newLoop())
		if err != nil {
			return nil, err
		}
		c.player = pl
	}
	return c.player, nil
}
