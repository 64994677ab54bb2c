package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/clock"
)

// Options configure a Client.
type Options struct {
	// Tracker is the logged-in (or about to log in) tracker client. Required.
	Tracker *Tracker
	// Origins are the origin sources, tried in order. At least one is
	// required until a peer source can serve every chunk.
	Origins []ChunkSource
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
	// Window is how many chunks ahead of the read position are fetched at
	// once; 0 means 8.
	Window int
	// PeerTimeout bounds one chunk request to a peer; a peer that misses it
	// is not asked again during the play. Zero means 2 s.
	PeerTimeout time.Duration
	// MaxProviders bounds the DHT lookup per play; 0 means 20 (Spotify's
	// tracker remembered 20 peers per track).
	MaxProviders int
}

// Client plays tracks.
type Client struct {
	tracker     *Tracker
	origins     []ChunkSource
	clock       clock.Clock
	log         *slog.Logger
	window      int
	swarm       Swarm
	cache       Cache
	maxProv     int
	peerTimeout time.Duration

	mu        sync.Mutex // guards the fields below
	manifests map[string]*catalog.Manifest
	keys      map[string]catalog.TrackKey
}

// New returns a client.
func New(opts Options) (*Client, error) {
	if opts.Tracker == nil {
		return nil, errors.New("client: Options.Tracker is required")
	}
	if opts.Window < 0 {
		return nil, fmt.Errorf("client: negative window %d", opts.Window)
	}
	if opts.Window == 0 {
		opts.Window = 8
	}
	if opts.PeerTimeout < 0 {
		return nil, fmt.Errorf("client: negative PeerTimeout %v", opts.PeerTimeout)
	}
	if opts.PeerTimeout == 0 {
		opts.PeerTimeout = 2 * time.Second
	}
	if opts.MaxProviders < 0 {
		return nil, fmt.Errorf("client: negative MaxProviders %d", opts.MaxProviders)
	}
	if opts.MaxProviders == 0 {
		opts.MaxProviders = 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		tracker:     opts.Tracker,
		origins:     opts.Origins,
		clock:       clock.Or(opts.Clock),
		log:         log,
		window:      opts.Window,
		swarm:       opts.Swarm,
		cache:       opts.Cache,
		maxProv:     opts.MaxProviders,
		peerTimeout: opts.PeerTimeout,
		manifests:   map[string]*catalog.Manifest{},
		keys:        map[string]catalog.TrackKey{},
	}, nil
}

// Tracker returns the client's tracker connection.
func (c *Client) Tracker() *Tracker { return c.tracker }

// Prepare fetches and caches a track's manifest and key without playing it,
// so a later Play starts without tracker round trips.
func (c *Client) Prepare(ctx context.Context, trackID string) error {
	_, _, err := c.manifestAndKey(ctx, trackID, nil)
	return err
}

func (c *Client) manifestAndKey(ctx context.Context, trackID string, stats *PlayStats) (*catalog.Manifest, catalog.TrackKey, error) {
	c.mu.Lock()
	m, haveM := c.manifests[trackID]
	k, haveK := c.keys[trackID]
	c.mu.Unlock()
	if stats != nil {
		stats.ManifestCached, stats.KeyCached = haveM, haveK
	}
	var err error
	if !haveM {
		if m, err = c.tracker.Manifest(ctx, trackID); err != nil {
			return nil, k, err
		}
	}
	if !haveK {
		if k, err = c.tracker.Key(ctx, trackID); err != nil {
			return nil, k, err
		}
	}
	c.mu.Lock()
	c.manifests[trackID], c.keys[trackID] = m, k
	c.mu.Unlock()
	return m, k, nil
}

// Play starts playing a track. The returned Playback fetches in the
// background until it is complete or closed; the caller must Close it.
func (c *Client) Play(ctx context.Context, trackID string) (*Playback, error) {
	start := c.clock.Now()
	if _, err := cid.Decode(trackID); err != nil {
		return nil, fmt.Errorf("client: track ID %q: %w", trackID, err)
	}
	stats := PlayStats{TrackID: trackID}
	m, key, err := c.manifestAndKey(ctx, trackID, &stats)
	if err != nil {
		return nil, err
	}
	stats.Title = m.Title
	if len(c.origins) == 0 && c.swarm == nil && c.cache == nil {
		return nil, fmt.Errorf("client: play %s: %w: no origin, swarm or cache configured", trackID, ErrNoSource)
	}
	pb := newPlayback(m, key, c.clock, start, stats)
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pb.cancel = cancel
	go func() {
		defer close(pb.done)
		c.runSimple(fctx, pb)
	}()
	return pb, nil
}
