package sched

import (
	"fmt"
	"log/slog"
	"time"
)

// FirstChunkPolicy says how the first chunk after Play or Seek is fetched
// when the cache does not hold it.
type FirstChunkPolicy uint8

const (
	// RaceAlways asks the best connected peer and an origin at once (or the
	// origin alone when no peer holding the track is connected); the first
	// to answer wins and the other is cancelled. The default.
	RaceAlways FirstChunkPolicy = iota
	// RaceHedged asks the best connected peer first and brings an origin in
	// only at the last moment it can still meet Config.StartTarget; with no
	// connected peer it asks the origin at once.
	RaceHedged
)

// Config tunes a Scheduler. Durations marked "of audio" are measured in
// playing time at speed 1 (a 15 s window lasts 15/Speed seconds); the others
// are network time. Every zero value means the documented default.
type Config struct {
	// Speed is how many seconds of audio the playhead plays per second of
	// the driver's clock. Zero means 1 (a listener); simulations use more.
	Speed float64
	// StartTarget is the start latency the scheduler aims at: before the
	// first chunk arrives, chunk deadlines count from Play.At+StartTarget.
	// Zero means 300 ms.
	StartTarget time.Duration
	// FirstChunk is the first-chunk race policy. Zero is RaceAlways.
	FirstChunk FirstChunkPolicy
	// BufferAhead is how far ahead of the playhead (of audio) chunks are
	// fetched from peers. Zero means 60 s.
	BufferAhead time.Duration
	// MaxOriginAhead is how far ahead of the playhead (of audio) origins
	// are ever asked, as Spotify's 15 s. Zero means 15 s.
	MaxOriginAhead time.Duration
	// LowBuffer is the buffered audio ahead of the playhead below which an
	// origin is brought in for chunks that peers are late with. Zero means
	// 3 s.
	LowBuffer time.Duration
	// HedgeMargin is the slack a source's expected arrival must leave before
	// a chunk's deadline. Zero means 100 ms.
	HedgeMargin time.Duration
	// MaxOutstandingPerSource caps requests in flight at one peer, whatever
	// its window (see InitialWindow: the window, grown from the measured
	// throughput and RTT, is what usually limits). Zero means 32, half a
	// server's default queue per peer (node.DefaultMaxQueuePerPeer, 64):
	// the server still counts cancelled requests whose Cancel is on its
	// way, and a full queue answers Busy.
	MaxOutstandingPerSource int
	// InitialWindow is how many bytes of requests a peer that has not
	// delivered yet (a fresh connection) may have in flight, at least one
	// request: about the initial congestion window of a new QUIC
	// connection. Zero means 40,000 (quic-go's 32 packets); the first two
	// 16 KiB chunks fit. Each delivery then grows the peer's window towards
	// twice the path's measured bandwidth-delay product; a failure halves
	// it.
	InitialWindow int
	// MaxOutstandingPerOrigin caps requests in flight at one origin. Zero
	// means 8.
	MaxOutstandingPerOrigin int
	// PrefetchPeersAt is how long (of audio) before the current track ends
	// the next track's first chunks are fetched from peers (and its peers
	// looked up and warmed). Zero means 30 s.
	PrefetchPeersAt time.Duration
	// PrefetchOriginAt is how long (of audio) before the current track ends
	// the next track's first chunks are fetched from an origin when no peer
	// is delivering them. Zero means 10 s.
	PrefetchOriginAt time.Duration
	// PrefetchAhead is how much (of audio) of the next track is
	// prefetched. Zero means 5 s.
	PrefetchAhead time.Duration
	// LookupAhead is how many queued tracks get an early FindPeers. Zero
	// means 2.
	LookupAhead int
	// WarmPeers is how many not-connected peers holding the current or next
	// track are warmed. Zero means 3; negative means none.
	WarmPeers int
	// BusyBackoff is how long a peer that answered FailBusy is left alone
	// (never longer: the chunk goes to the next best holder at once, and
	// more holders are looked up when none has room), and the first
	// backoff of a source that timed out or was lost, doubled for each
	// such failure in a row. Zero means 1 s.
	BusyBackoff time.Duration
	// OriginBackoffMax caps the backoff of a failing origin, the source of
	// last resort, so a play resumes soon after it comes back. Zero means
	// 2 s.
	OriginBackoffMax time.Duration
	// LookupRetry is how long after a lookup that found no usable holder
	// the track's holders are looked up again, doubling for each such
	// lookup in a row up to LookupRetryMax (while the track plays, is queued
	// or shown). Zero means 500 ms and 8 s.
	LookupRetry    time.Duration
	LookupRetryMax time.Duration
	// LookupFresh is how old the last answer about a track's holders may
	// be when a play of it starts; an older one is looked up again at the
	// play's start, beside asking the holders already known (a popular
	// track gains holders by the second: a list shown a while ago names
	// only the earliest, who are busiest). Zero means 5 s.
	LookupFresh time.Duration
	// LookupWait is how long, after a lookup of the playing track's
	// holders went out, a chunk that no known peer can take waits for its
	// answer instead of going to an origin at once (when its deadline,
	// less the origin's expected delay and HedgeMargin, is later than
	// that). A lookup of the DHT servers answers in a round trip or two;
	// the origin serves what is urgent meanwhile. It is also the slack a
	// chunk must have left, after a holder that answered Busy may be asked
	// again (BusyBackoff), to wait for that holder rather than go to an
	// origin. Zero means 1 s.
	LookupWait time.Duration
	// GiveUpAfter ends the current play (GaveUp) when its playhead has
	// waited or stalled that long with no chunk arriving. Zero means never
	// (a driver that reports to a listener sets it).
	GiveUpAfter time.Duration
	// DefaultRTT is assumed for a source without a measured RTT. Zero means
	// 100 ms.
	DefaultRTT time.Duration
	// DefaultBytesPerSecond is assumed for a source without a measured
	// throughput. Zero means 256 KiB/s.
	DefaultBytesPerSecond int64
	// CacheLatency is the expected time to read a chunk from the cache.
	// Zero means 2 ms.
	CacheLatency time.Duration
	// Logger receives debug logs of decisions. Nil discards them.
	Logger *slog.Logger
}

// withDefaults validates c and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	neg := func(name string, d time.Duration) error {
		if d < 0 {
			return fmt.Errorf("%w: %s %v is negative", ErrBadConfig, name, d)
		}
		return nil
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"StartTarget", c.StartTarget}, {"BufferAhead", c.BufferAhead},
		{"MaxOriginAhead", c.MaxOriginAhead}, {"LowBuffer", c.LowBuffer},
		{"HedgeMargin", c.HedgeMargin}, {"PrefetchPeersAt", c.PrefetchPeersAt},
		{"PrefetchOriginAt", c.PrefetchOriginAt}, {"PrefetchAhead", c.PrefetchAhead},
		{"BusyBackoff", c.BusyBackoff}, {"DefaultRTT", c.DefaultRTT},
		{"CacheLatency", c.CacheLatency}, {"OriginBackoffMax", c.OriginBackoffMax},
		{"LookupRetry", c.LookupRetry}, {"LookupRetryMax", c.LookupRetryMax},
		{"LookupFresh", c.LookupFresh}, {"LookupWait", c.LookupWait},
		{"GiveUpAfter", c.GiveUpAfter},
	} {
		if err := neg(f.name, f.d); err != nil {
			return c, err
		}
	}
	if c.Speed < 0 || c.Speed != c.Speed || c.Speed > 1e6 {
		return c, fmt.Errorf("%w: Speed %v out of range", ErrBadConfig, c.Speed)
	}
	if c.MaxOutstandingPerSource < 0 || c.MaxOutstandingPerOrigin < 0 || c.InitialWindow < 0 || c.LookupAhead < 0 || c.DefaultBytesPerSecond < 0 {
		return c, fmt.Errorf("%w: negative count", ErrBadConfig)
	}
	if c.FirstChunk > RaceHedged {
		return c, fmt.Errorf("%w: unknown FirstChunk policy %d", ErrBadConfig, c.FirstChunk)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Speed == 0 {
		c.Speed = 1
	}
	def(&c.StartTarget, 300*time.Millisecond)
	def(&c.BufferAhead, 60*time.Second)
	def(&c.MaxOriginAhead, 15*time.Second)
	def(&c.LowBuffer, 3*time.Second)
	def(&c.HedgeMargin, 100*time.Millisecond)
	def(&c.PrefetchPeersAt, 30*time.Second)
	def(&c.PrefetchOriginAt, 10*time.Second)
	def(&c.PrefetchAhead, 5*time.Second)
	def(&c.BusyBackoff, time.Second)
	def(&c.DefaultRTT, 100*time.Millisecond)
	def(&c.CacheLatency, 2*time.Millisecond)
	def(&c.OriginBackoffMax, 2*time.Second)
	def(&c.LookupRetry, 500*time.Millisecond)
	def(&c.LookupRetryMax, 8*time.Second)
	def(&c.LookupFresh, 5*time.Second)
	def(&c.LookupWait, time.Second)
	if c.LookupRetryMax < c.LookupRetry {
		c.LookupRetryMax = c.LookupRetry
	}
	if c.MaxOutstandingPerSource == 0 {
		c.MaxOutstandingPerSource = 32
	}
	if c.InitialWindow == 0 {
		c.InitialWindow = 40_000
	}
	if c.MaxOutstandingPerOrigin == 0 {
		c.MaxOutstandingPerOrigin = 8
	}
	if c.LookupAhead == 0 {
		c.LookupAhead = 2
	}
	if c.WarmPeers == 0 {
		c.WarmPeers = 3
	}
	if c.DefaultBytesPerSecond == 0 {
		c.DefaultBytesPerSecond = 256 << 10
	}
	if c.PrefetchOriginAt > c.PrefetchPeersAt {
		return c, fmt.Errorf("%w: PrefetchOriginAt %v after PrefetchPeersAt %v", ErrBadConfig, c.PrefetchOriginAt, c.PrefetchPeersAt)
	}
	if c.MaxOriginAhead > c.BufferAhead {
		c.MaxOriginAhead = c.BufferAhead
	}
	return c, nil
}
