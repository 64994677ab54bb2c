package client

import (
	"fmt"
	"io"
	"math"
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
// player that paces itself. A Playback reaches its player only through
// playControl.
//
// Memory is bounded by the buffer, not the track: a Playback keeps the
// decrypted chunks from keepBehind (10 s of audio) before its read position
// to the scheduler's BufferAhead (60 s by default) after it, and drops the
// rest (the scheduler fetches a dropped chunk again, from the cache when it
// holds it, if a seek comes back to it). With a reader that keeps up with
// Position, as an audio output does, that is at most about 70 s of audio
// plus two chunks (2.8 MB at 320 kbit/s) whatever the length of the track;
// a reader that falls behind the playhead without Pause holds what arrived
// in between as well.
type Playback struct {
	m     *catalog.Manifest
	clock clock.Clock
	start time.Time
	ctl   playControl
	ended chan struct{} // closed when the playhead reaches the end

	mu       sync.Mutex // guards the fields below
	cond     *sync.Cond
	chunks   [][]byte // decrypted chunks held, nil until arrived or once dropped
	got      []bool   // chunks that ever arrived
	lo, hi   int      // chunks outside [lo, hi] are nil
	win      window   // how much to keep around the read and playhead positions
	pos      int64
	head     int64 // the scheduler's playhead, as of its last step; -1 before it starts
	closed   bool
	finished bool
	err      error       // fatal fetch error
	own      PlayStats   // what only the client knows: start latency, cache flags, bans
	sched    sched.Stats // the scheduler's statistics, as of the last look
	banned   map[string]bool
}

var _ io.ReadSeekCloser = (*Playback)(nil)

// newPlayback returns a playback of m at offset, started at start, whose
// player is ctl. own carries the track ID and the manifest and key cache
// flags.
func newPlayback(m *catalog.Manifest, clk clock.Clock, start time.Time, offset int64, own PlayStats, ctl playControl) *Playback {
	own.Chunks = len(m.Chunks)
	own.Title = m.Title
	pb := &Playback{
		m:      m,
		clock:  clk,
		start:  start,
		ctl:    ctl,
		head:   -1,
		chunks: make([][]byte, len(m.Chunks)),
		got:    make([]bool, len(m.Chunks)),
		lo:     len(m.Chunks),
		hi:     -1,
		pos:    offset,
		own:    own,
		banned: map[string]bool{},
		ended:  make(chan struct{}),
	}
	pb.cond = sync.NewCond(&pb.mu)
	return pb
}

// window is how many chunks a Playback keeps before and after the chunk
// under its read position; zero values keep everything.
type window struct{ behind, ahead int }

// keepBehind is how much audio behind the read position a Playback keeps
// for short seeks back.
const keepBehind = 10 * time.Second

// windowFor sizes the window for m at a bitrate in bits per second:
// keepBehind behind, bufferAhead ahead, each rounded up, plus a chunk.
func windowFor(m *catalog.Manifest, bitrateBps int64, bufferAhead time.Duration) window {
	bytesPerSec := float64(bitrateBps) / 8
	if m.DurationMS > 0 {
		bytesPerSec = float64(m.ByteLength) / (float64(m.DurationMS) / 1000)
	}
	size := float64(max(m.ChunkSize, 1))
	chunks := func(d time.Duration) int { return int(math.Ceil(d.Seconds()*bytesPerSec/size)) + 1 }
	return window{behind: chunks(keepBehind), ahead: chunks(bufferAhead)}
}

// setWindow sets how much the playback keeps.
func (pb *Playback) setWindow(w window) {
	pb.mu.Lock()
	pb.win = w
	pb.mu.Unlock()
}

// setHead records the scheduler's playhead position.
func (pb *Playback) setHead(off int64) {
	pb.mu.Lock()
	pb.head = off
	pb.mu.Unlock()
}

// dropLocked drops the chunks outside the window and returns their
// indexes, for the scheduler. The window reaches keepBehind behind the
// earlier of the read position and the scheduler's playhead, and the
// buffer ahead of the later one: a reader that runs ahead of the playhead
// (io.Copy into a file) does not drop chunks the scheduler still counts as
// ahead, which it would fetch again, and a reader that lags behind does not
// drop what the scheduler just fetched within its buffer. A reader and
// playhead kept together (a player reporting Heard) hold at most
// keepBehind plus the buffer ahead.
func (pb *Playback) dropLocked() []int {
	if pb.win == (window{}) || pb.lo > pb.hi {
		return nil
	}
	last := pb.m.ByteLength - 1
	early, late := pb.pos, pb.pos
	if pb.head >= 0 {
		early, late = min(early, pb.head), max(late, pb.head)
	}
	cur := pb.m.ChunkIndex(min(early, last))
	curLate := pb.m.ChunkIndex(min(late, last))
	var out []int
	drop := func(from, to int) {
		for i := max(from, 0); i <= to && i < len(pb.chunks); i++ {
			if pb.chunks[i] != nil {
				pb.chunks[i] = nil
				out = append(out, i)
			}
		}
	}
	if lo := cur - pb.win.behind; pb.lo < lo {
		drop(pb.lo, lo-1)
		pb.lo = lo
	}
	if hi := curLate + pb.win.ahead; pb.hi > hi {
		drop(hi+1, pb.hi)
		pb.hi = hi
	}
	return out
}

// Manifest returns the playing track's manifest.
func (pb *Playback) Manifest() *catalog.Manifest { return pb.m }

// Read implements io.Reader; it blocks until the data under the read
// position has arrived.
func (pb *Playback) Read(p []byte) (int, error) {
	pb.mu.Lock()
	n, err := pb.readLocked(p)
	dropped := pb.dropLocked()
	pb.mu.Unlock()
	if len(dropped) > 0 {
		pb.ctl.dropped(pb, dropped)
	}
	return n, err
}

func (pb *Playback) readLocked(p []byte) (int, error) {
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
	dropped := pb.dropLocked()
	pb.mu.Unlock()
	if len(dropped) > 0 {
		pb.ctl.dropped(pb, dropped) // before the seek: the scheduler then sees what is missing
	}
	if moved && abs < pb.m.ByteLength {
		pb.ctl.seek(pb, abs)
	}
	return abs, nil
}

// Position returns the playhead's byte offset on the playback clock and
// whether the playhead has started (false before the first chunk, and
// after the play was closed or replaced).
func (pb *Playback) Position() (int64, bool) {
	return pb.ctl.position(pb)
}

// Err returns the error that ended the play (a *StuckError when no source
// could deliver, ErrClosed when it was replaced or the client closed), or
// nil while it plays. A reader that paces itself by Position, which reports
// false once the play ended, stops on it.
func (pb *Playback) Err() error {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.err
}

// Pause stops the playback clock, as when the listener pauses: Position
// stands still, the play neither stalls nor ends, and fetching goes on to
// fill the buffer. It does nothing if the play is paused already, closed or
// replaced.
func (pb *Playback) Pause() { pb.ctl.pause(pb) }

// Resume restarts the playback clock where Pause stopped it.
func (pb *Playback) Resume() { pb.ctl.resume(pb) }

// Heard reports the position (a byte offset) that the audio output has
// reached; the scheduler re-anchors its playhead there, so deadlines follow
// the listener's player rather than the playback clock's estimate. An
// offset outside the track is refused.
func (pb *Playback) Heard(offset int64) error {
	if offset < 0 || offset > pb.m.ByteLength {
		return fmt.Errorf("client: heard offset %d outside track of %d bytes", offset, pb.m.ByteLength)
	}
	pb.ctl.heard(pb, offset)
	return nil
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
	pb.ctl.stop(pb)
	return nil
}

// Stats returns a snapshot of the play's statistics: bytes by source,
// origin requests, failures, stalls and cancellations as the scheduler
// counts them, and what only the client knows (start latency from Play to
// the first decrypted byte, manifest and key cached, rejected chunks and
// banned sources).
func (pb *Playback) Stats() PlayStats {
	if st, ok := pb.ctl.schedStats(pb); ok {
		pb.setSched(st)
	}
	pb.mu.Lock()
	defer pb.mu.Unlock()
	s := pb.own
	s.Banned = append([]string(nil), pb.own.Banned...)
	st := &pb.sched
	s.BytesBySource = map[SourceKind]int64{}
	for k, n := range st.Bytes {
		if n > 0 {
			s.BytesBySource[SourceKind(k)] = n
		}
	}
	s.OriginRequests = map[string]int{}
	for r, n := range st.OriginRequests {
		if n > 0 {
			s.OriginRequests[sched.Reason(r).String()] = n
		}
	}
	s.Errors = st.Failures
	s.Stalls = st.Stalls
	s.StallMS = float64(st.StallTime) / float64(time.Millisecond)
	s.Ended = st.Ended
	s.Cancelled = st.Cancels
	s.WastedBytes = st.WastedBytes
	return s
}

// Done reports whether every chunk has arrived (some may have been dropped
// since, outside the window kept around the read position).
func (pb *Playback) Done() bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	for _, g := range pb.got {
		if !g {
			return false
		}
	}
	return true
}

// put stores decrypted chunk i unless it is there already (a hedged or
// raced duplicate).
func (pb *Playback) put(i int, plain []byte) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.chunks[i] != nil {
		return
	}
	pb.chunks[i] = plain
	pb.got[i] = true
	pb.lo, pb.hi = min(pb.lo, i), max(pb.hi, i)
	if pb.own.StartLatencyMS == 0 && i == pb.m.ChunkIndex(min(pb.pos, pb.m.ByteLength-1)) {
		pb.own.StartLatencyMS = max(msSince(pb.clock, pb.start), 1e-3)
	}
	pb.cond.Broadcast()
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

// hasEnded reports whether the playhead reached the end (Finished).
func (pb *Playback) hasEnded() bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.finished
}

// bannedSources returns the sources banned during the play.
func (pb *Playback) bannedSources() []string {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return append([]string(nil), pb.own.Banned...)
}

// ban records that source (by name) is not asked again during this play;
// rejected counts a chunk that failed its CID check.
func (pb *Playback) ban(source string, rejected bool) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if rejected {
		pb.own.Rejected++
	}
	if !pb.banned[source] {
		pb.banned[source] = true
		pb.own.Banned = append(pb.own.Banned, source)
	}
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
