package client

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client/sched"
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
	// Stalls and StallMS count the times the playhead reached a chunk that
	// had not arrived, and how long it stood, on the playback clock.
	Stalls  int     `json:"stalls"`
	StallMS float64 `json:"stall_ms"`
	// Ended reports that the playhead reached the end of the track.
	Ended bool `json:"ended"`
	// Rejected counts chunks that failed their CID check; Banned lists the
	// sources that sent them (or could not be admitted) and were not asked
	// again during the play.
	Rejected int      `json:"rejected_chunks,omitempty"`
	Banned   []string `json:"banned_sources,omitempty"`
	// Errors counts failed requests (not found, busy, timeouts).
	Errors int `json:"source_errors,omitempty"`
	// Cancelled counts requests the scheduler cancelled (race and hedge
	// losers); WastedBytes counts bytes that arrived for them anyway.
	Cancelled   int   `json:"cancelled_requests,omitempty"`
	WastedBytes int64 `json:"wasted_bytes,omitempty"`
}

// Playback is one playing track: an io.ReadSeekCloser over the decrypted
// audio. The client's scheduler fetches chunks in the background; Read
// blocks until the chunk under the read position has arrived. Read is not
// paced: Position tells where the playback clock's playhead is, for a
// player that paces itself.
type Playback struct {
	m      *catalog.Manifest
	key    catalog.TrackKey
	clock  clock.Clock
	start  time.Time
	player *player
	ts     *trackState
	ended  chan struct{} // closed when the playhead reaches the end

	mu       sync.Mutex // guards the fields below
	cond     *sync.Cond
	chunks   [][]byte // decrypted chunks, nil until arrived
	pos      int64
	closed   bool
	finished bool
	err      error // fatal fetch error
	stats    PlayStats
	sched    sched.Stats // the scheduler's view, when the play ended
	banned   map[string]bool
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
		chunks: make([][]byte, len(m.Chunks)),
		stats:  stats,
		banned: map[string]bool{},
		ended:  make(chan struct{}),
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
	for pb.chunks[i] == nil && !pb.closed && pb.err == nil {
		pb.cond.Wait()
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
	return n, nil
}

// Seek implements io.Seeker. Seeking tells the scheduler, which
// reschedules from the new position.
func (pb *Playback) Seek(offset int64, whence int) (int64, error) {
	pb.mu.Lock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = pb.pos + offset
	case io.SeekEnd:
		abs = pb.m.ByteLength + offset
	default:
		pb.mu.Unlock()
		return pb.pos, fmt.Errorf("client: seek whence %d", whence)
	}
	if abs < 0 {
		pb.mu.Unlock()
		return pb.pos, fmt.Errorf("client: seek to negative offset %d", abs)
	}
	moved := abs != pb.pos
	pb.pos = abs
	pb.mu.Unlock()
	if moved && abs < pb.m.ByteLength && pb.player != nil {
		pl := pb.player
		pl.do(func() {
			if pl.cur == pb.ts && pb.ts.pb == pb {
				pl.step(sched.Seek{At: pl.now(), Offset: abs})
			}
		})
	}
	return abs, nil
}

// Position returns the playhead's byte offset on the playback clock and
// whether the playhead has started (false before the first chunk, and
// after the play was closed or replaced).
func (pb *Playback) Position() (int64, bool) {
	if pb.player == nil {
		return 0, false
	}
	var pos int64
	var ok bool
	pl := pb.player
	pl.call(func() {
		if pl.cur == pb.ts && pb.ts.pb == pb {
			pos, ok = pl.sched.Position(pl.now())
		}
	})
	return pos, ok
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
	if pl := pb.player; pl != nil {
		pl.call(func() {
			if pl.cur == pb.ts && pb.ts.pb == pb {
				pb.setSched(pl.sched.Stats())
				// A play that ended needs no Stop: stopping would also
				// drop the queued next track's prefetch.
				pb.mu.Lock()
				ended := pb.finished
				pb.mu.Unlock()
				if !ended {
					pl.step(sched.Stop{At: pl.now()})
				}
				pb.ts.pb = nil
				pl.cur = nil
			}
		})
	}
	return nil
}

// Stats returns a snapshot of the play's statistics.
func (pb *Playback) Stats() PlayStats {
	if pl := pb.player; pl != nil {
		pl.call(func() {
			if pl.cur == pb.ts && pb.ts.pb == pb {
				pb.setSched(pl.sched.Stats())
			}
		})
	}
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
	s.Stalls = pb.sched.Stalls
	s.StallMS = float64(pb.sched.StallTime) / float64(time.Millisecond)
	s.Ended = pb.sched.Ended
	s.Cancelled = pb.sched.Cancels
	s.WastedBytes = pb.sched.WastedBytes
	return s
}

// Done reports whether every chunk has arrived.
func (pb *Playback) Done() bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	for _, c := range pb.chunks {
		if c == nil {
			return false
		}
	}
	return true
}

// put stores decrypted chunk i and reports whether it was new (a hedged or
// raced duplicate is not).
func (pb *Playback) put(i int, plain []byte, kind SourceKind) bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.chunks[i] != nil {
		return false
	}
	pb.chunks[i] = plain
	if pb.stats.StartLatencyMS == 0 && i == pb.m.ChunkIndex(min(pb.pos, pb.m.ByteLength-1)) {
		pb.stats.StartLatencyMS = max(msSince(pb.clock, pb.start), 1e-3)
	}
	pb.cond.Broadcast()
	return true
}

// countBytes counts verified ciphertext bytes from a source kind.
func (pb *Playback) countBytes(kind SourceKind, n int) {
	pb.mu.Lock()
	pb.stats.BytesBySource[kind] += int64(n)
	pb.mu.Unlock()
}

// Ended is closed when the playhead reaches the end of the track on the
// playback clock.
func (pb *Playback) Ended() <-chan struct{} { return pb.ended }

// finish records the scheduler's final statistics.
func (pb *Playback) finish(s sched.Stats) {
	pb.setSched(s)
	pb.mu.Lock()
	if !pb.finished {
		pb.finished = true
		close(pb.ended)
	}
	pb.mu.Unlock()
}

func (pb *Playback) setSched(s sched.Stats) {
	pb.mu.Lock()
	pb.sched = s
	pb.mu.Unlock()
}

// ban stops asking src during this play; rejected counts a chunk that
// failed its CID check.
func (pb *Playback) ban(src ChunkSource, rejected bool) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if rejected {
		pb.stats.Rejected++
	}
	if !pb.banned[src.Name()] {
		pb.banned[src.Name()] = true
		pb.stats.Banned = append(pb.stats.Banned, src.Name())
	}
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

// fail ends the play with err.
func (pb *Playback) fail(err error) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.err == nil {
		pb.err = err
	}
	pb.cond.Broadcast()
}

func msSince(c clock.Clock, t time.Time) float64 {
	return float64(c.Now().Sub(t)) / float64(time.Millisecond)
}
