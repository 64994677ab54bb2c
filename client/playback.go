package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/clock"
)

// PlayStats are one play's statistics, printed by `chorus play` as JSON.
type PlayStats struct {
	TrackID string `json:"track_id"`
	Title   string `json:"title,omitempty"`
	// StartLatencyMS is the time from Play() to the first decrypted byte.
	StartLatencyMS float64 `json:"start_latency_ms"`
	// ManifestCached and KeyCached tell whether the start included the
	// tracker round trips for manifest and key.
	ManifestCached bool `json:"manifest_cached"`
	KeyCached      bool `json:"key_cached"`
	Chunks         int  `json:"chunks"`
	// BytesBySource counts verified ciphertext bytes by source kind.
	BytesBySource map[SourceKind]int64 `json:"bytes_by_source"`
	// OriginRequests counts origin requests by the reason they were made.
	OriginRequests map[string]int `json:"origin_requests,omitempty"`
	// Stalls and StallMS count the times the reader waited for a chunk
	// after playback had started, and the total wait, on the playback clock.
	Stalls  int     `json:"stalls"`
	StallMS float64 `json:"stall_ms"`
	// Rejected counts chunks that failed their CID check; Banned lists the
	// sources that sent them and were not asked again during the play.
	Rejected int      `json:"rejected_chunks,omitempty"`
	Banned   []string `json:"banned_sources,omitempty"`
	// Errors counts failed requests (not found, busy, timeouts).
	Errors int `json:"source_errors,omitempty"`
}

// Playback is one playing track: an io.ReadSeekCloser over the decrypted
// audio. Chunks are fetched in the background by the client's fetch policy;
// Read blocks until the chunk under the read position has arrived.
type Playback struct {
	m      *catalog.Manifest
	key    catalog.TrackKey
	clock  clock.Clock
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{} // closed when the fetcher has returned

	mu      sync.Mutex // guards the fields below
	cond    *sync.Cond
	chunks  [][]byte // decrypted chunks, nil until arrived
	pos     int64
	started bool // first byte delivered
	closed  bool
	err     error // fatal fetch error
	stats   PlayStats
	banned  map[string]bool
}

var _ io.ReadSeekCloser = (*Playback)(nil)

func newPlayback(m *catalog.Manifest, key catalog.TrackKey, clk clock.Clock, start time.Time, stats PlayStats) *Playback {
	stats.Chunks = len(m.Chunks)
	stats.BytesBySource = map[SourceKind]int64{}
	stats.OriginRequests = map[string]int{}
	pb := &Playback{
		m:      m,
		key:    key,
		clock:  clk,
		start:  start,
		done:   make(chan struct{}),
		chunks: make([][]byte, len(m.Chunks)),
		stats:  stats,
		banned: map[string]bool{},
	}
	pb.cond = sync.NewCond(&pb.mu)
	return pb
}

// Manifest returns the playing track's manifest.
func (pb *Playback) Manifest() *catalog.Manifest { return pb.m }

// Read implements io.Reader; it blocks until the data under the read
// position has arrived.
func (pb *Playback) Read(p []byte) (int, error) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.closed {
		return 0, ErrClosed
	}
	if pb.pos >= pb.m.ByteLength {
		return 0, io.EOF
	}
	i := pb.m.ChunkIndex(pb.pos)
	if pb.chunks[i] == nil {
		waitStart := pb.clock.Now()
		for pb.chunks[i] == nil && !pb.closed && pb.err == nil {
			pb.cond.Wait()
		}
		if pb.started && pb.chunks[i] != nil {
			pb.stats.Stalls++
			pb.stats.StallMS += msSince(pb.clock, waitStart)
		}
	}
	if pb.closed {
		return 0, ErrClosed
	}
	if pb.chunks[i] == nil {
		return 0, pb.err
	}
	off := pb.pos - pb.m.ChunkOffset(i)
	n := copy(p, pb.chunks[i][off:])
	pb.pos += int64(n)
	pb.started = true
	return n, nil
}

// Seek implements io.Seeker. Seeking moves the fetch priority to the new
// position.
func (pb *Playback) Seek(offset int64, whence int) (int64, error) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = pb.pos + offset
	case io.SeekEnd:
		abs = pb.m.ByteLength + offset
	default:
		return pb.pos, fmt.Errorf("client: seek whence %d", whence)
	}
	if abs < 0 {
		return pb.pos, fmt.Errorf("client: seek to negative offset %d", abs)
	}
	pb.pos = abs
	pb.cond.Broadcast()
	return abs, nil
}

// Close stops fetching and releases the playback.
func (pb *Playback) Close() error {
	pb.mu.Lock()
	if pb.closed {
		pb.mu.Unlock()
		return nil
	}
	pb.closed = true
	pb.cond.Broadcast()
	pb.mu.Unlock()
	pb.cancel()
	<-pb.done
	return nil
}

// Stats returns a snapshot of the play's statistics.
func (pb *Playback) Stats() PlayStats {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	s := pb.stats
	s.BytesBySource = make(map[SourceKind]int64, len(pb.stats.BytesBySource))
	for k, v := range pb.stats.BytesBySource {
		s.BytesBySource[k] = v
	}
	s.OriginRequests = make(map[string]int, len(pb.stats.OriginRequests))
	for k, v := range pb.stats.OriginRequests {
		s.OriginRequests[k] = v
	}
	s.Banned = append([]string(nil), pb.stats.Banned...)
	return s
}

// WaitStarted blocks until the first byte is available or the context ends;
// it returns the start latency.
func (pb *Playback) WaitStarted(ctx context.Context) (time.Duration, error) {
	stop := context.AfterFunc(ctx, func() {
		pb.mu.Lock()
		pb.cond.Broadcast()
		pb.mu.Unlock()
	})
	defer stop()
	pb.mu.Lock()
	defer pb.mu.Unlock()
	i := pb.m.ChunkIndex(min(pb.pos, pb.m.ByteLength-1))
	for pb.chunks[i] == nil && !pb.closed && pb.err == nil && ctx.Err() == nil {
		pb.cond.Wait()
	}
	if pb.chunks[i] == nil {
		if pb.err != nil {
			return 0, pb.err
		}
		if pb.closed {
			return 0, ErrClosed
		}
		return 0, ctx.Err()
	}
	return time.Duration(pb.stats.StartLatencyMS * float64(time.Millisecond)), nil
}

// want returns the chunk indexes the reader needs next, most urgent first:
// the first missing chunks from the read position on, at most n of them,
// skipping those in flight.
func (pb *Playback) want(n int, inflight map[int]bool) []int {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.closed {
		return nil
	}
	var out []int
	start := pb.m.ChunkIndex(min(pb.pos, pb.m.ByteLength-1))
	for i := start; i < len(pb.chunks) && len(out) < n; i++ {
		if pb.chunks[i] == nil && !inflight[i] {
			out = append(out, i)
		}
	}
	// After the position is served to the end, fill any holes before it
	// (left by a seek), so the whole track ends up cached.
	for i := 0; i < start && len(out) < n; i++ {
		if pb.chunks[i] == nil && !inflight[i] {
			out = append(out, i)
		}
	}
	return out
}

// has reports whether chunk i has arrived.
func (pb *Playback) has(i int) bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.chunks[i] != nil
}

// complete reports whether every chunk has arrived.
func (pb *Playback) complete() bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	for _, c := range pb.chunks {
		if c == nil {
			return false
		}
	}
	return true
}

// deliver verifies and decrypts chunk i's ciphertext from src. A chunk that
// fails its CID check bans src for the rest of the play.
func (pb *Playback) deliver(i int, ciphertext []byte, src ChunkSource) error {
	plain, err := catalog.DecryptChunk(pb.m, pb.key, i, ciphertext)
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if err != nil {
		pb.banLocked(src, true)
		return fmt.Errorf("chunk %d from %s: %w", i, src.Name(), err)
	}
	if pb.chunks[i] != nil {
		return nil // a hedged duplicate; the first one won
	}
	pb.chunks[i] = plain
	pb.stats.BytesBySource[src.Kind()] += int64(len(ciphertext))
	if !pb.started && i == pb.m.ChunkIndex(min(pb.pos, pb.m.ByteLength-1)) && pb.stats.StartLatencyMS == 0 {
		pb.stats.StartLatencyMS = msSince(pb.clock, pb.start)
	}
	pb.cond.Broadcast()
	return nil
}

// ban stops asking src during this play; rejected counts a chunk that
// failed its CID check.
func (pb *Playback) ban(src ChunkSource, rejected bool) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	pb.banLocked(src, rejected)
}

func (pb *Playback) banLocked(src ChunkSource, rejected bool) {
	if rejected {
		pb.stats.Rejected++
	}
	if !pb.banned[src.Name()] {
		pb.banned[src.Name()] = true
		pb.stats.Banned = append(pb.stats.Banned, src.Name())
	}
}

// isBanned reports whether src sent a bad chunk during this play.
func (pb *Playback) isBanned(src ChunkSource) bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.banned[src.Name()]
}

// noteOrigin counts an origin request and its reason.
func (pb *Playback) noteOrigin(reason string) {
	pb.mu.Lock()
	pb.stats.OriginRequests[reason]++
	pb.mu.Unlock()
}

// noteError counts a failed request.
func (pb *Playback) noteError() {
	pb.mu.Lock()
	pb.stats.Errors++
	pb.mu.Unlock()
}

// fail ends the play with err unless it already has data for every chunk.
func (pb *Playback) fail(err error) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.err == nil && !errors.Is(err, context.Canceled) {
		pb.err = err
	}
	pb.cond.Broadcast()
}

func msSince(c clock.Clock, t time.Time) float64 {
	return float64(c.Now().Sub(t)) / float64(time.Millisecond)
}
