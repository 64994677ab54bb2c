package sched

import (
	"fmt"
	"log/slog"
	"sort"
	"time"
)

// Scheduler is the chunk scheduler of one client. It is not safe for
// concurrent use: the driver calls Step from one goroutine (or under its own
// lock).
type Scheduler struct {
	cfg Config
	log *slog.Logger

	cur  *play // the playing track, nil before the first Play and after Stop
	next *play // the prefetched next track (Queue.Next[0]), or nil
	last Stats // stats of the most recent play, kept after Stop

	sources map[SourceID]*source
	origins []*source
	holders map[string][]*source // track ID -> peers known to hold it
	lookups map[string]*lookup   // tracks with a FindPeers issued
	queue   []string             // queued track IDs (for pruning and lookup retries)
	shown   []shownTrack         // tracks shown to the listener (Show), oldest first

	reqs    map[ReqID]*request
	free    []*request // recycled request structs
	lastReq ReqID

	lastTimer TimerID
	armedID   TimerID   // the timer the scheduler waits for, 0 if none
	armedAt   time.Time // its time
	wake      time.Time // earliest wake-up found by this step

	playSeq  uint64
	pruneSeq uint64
	scratch  []*source
	now      time.Time
}

// source is the scheduler's view of one source.
type source struct {
	info         SourceInfo
	outstanding  int   // requests in flight
	queued       int64 // bytes in flight
	bannedPlay   uint64
	pruneSeen    uint64 // the prune pass that last found it referenced
	backoffUntil time.Time
	busyUntil    time.Time // backed off for a Busy answer until then (equal to backoffUntil)
	warmed       bool
	// lag is a moving average of how much later than expected the source
	// delivers; it corrects the driver's RTT and throughput figures.
	lag time.Duration
	// fails counts failures since the last delivery; each doubles the
	// backoff.
	fails int
	// lackTrack, lackFrom: the peer answered DontHave for chunk lackFrom
	// of lackTrack (it may still be downloading it); it is not asked for
	// chunks from there on until lackRetry.
	lackTrack string
	lackFrom  int
	lackRetry time.Time
	lacks     int // DontHave answers in a row: each doubles the wait
	// window is the bytes of requests a peer may have in flight (see
	// hasSlot, grow); 0 means Config.InitialWindow. Past thresh (set by a
	// failure; 0: none) it grows by one chunk a round trip.
	window, thresh int64
}

// backoff leaves src alone for BusyBackoff, doubled for each consecutive
// failure (at most 64 times).
func (s *Scheduler) backoff(src *source) {
	if s.now.Before(src.backoffUntil) {
		return // a burst (a window's worth refused at once) counts once
	}
	src.fails++
	d := s.cfg.BusyBackoff << min(src.fails-1, 6)
	if src.info.Kind == KindOrigin {
		// The source of last resort: a play waiting on it must resume
		// soon after it comes back.
		d = min(d, s.cfg.OriginBackoffMax)
	}
	src.backoffUntil = s.now.Add(d)
}

// request is one chunk request in flight.
type request struct {
	id       ReqID
	p        *play
	chunk    int
	src      *source
	bytes    int
	reason   Reason
	expected time.Time // expected arrival when sent
	model    time.Time // expected arrival by the driver's figures alone (without lag)
}

// chunkState is the scheduler's view of one chunk of a play.
type chunkState struct {
	arrived bool
	failed  bool  // a peer failed it; the next origin request says so
	primary ReqID // in flight at a peer or the cache (or an origin, with no peer)
	alt     ReqID // re-sent to a second peer because the first is late
	origin  ReqID // in flight at an origin
}

// idle reports whether no request for the chunk is in flight.
func (c *chunkState) idle() bool { return c.primary == 0 && c.alt == 0 && c.origin == 0 }

// forget removes request id from c; a second peer's request becomes the
// primary one.
func (c *chunkState) forget(id ReqID) {
	switch id {
	case c.primary:
		c.primary, c.alt = c.alt, 0
	case c.alt:
		c.alt = 0
	case c.origin:
		c.origin = 0
	}
}

// play is one track being played or prefetched.
type play struct {
	track   TrackInfo
	offsets []int64 // offsets[i] is chunk i's first byte; offsets[n] the length
	chunks  []chunkState
	ph      Playhead
	contig  int // first missing chunk at or after the playhead
	start   int // chunk under the last Play/Seek position
	seeking bool
	ended   bool
	stopped bool
	// progressAt is when the play last made progress: Play, Seek or a chunk
	// of it arriving. The give-up clock counts from it.
	progressAt time.Time
	// prefetch-phase bookkeeping for the next track
	prefetchPeers bool
	stats         Stats
}

func (p *play) n() int        { return len(p.chunks) }
func (p *play) length() int64 { return p.offsets[len(p.chunks)] }

// chunkAt returns the chunk holding byte offset off (the last chunk for off
// at or past the end).
func (p *play) chunkAt(off int64) int {
	i := sort.Search(p.n(), func(i int) bool { return p.offsets[i+1] > off })
	if i >= p.n() {
		i = p.n() - 1
	}
	return i
}

// skipArrived moves contig past arrived chunks.
func (p *play) skipArrived() {
	for p.contig < p.n() && p.chunks[p.contig].arrived {
		p.contig++
	}
}

// New returns a Scheduler with cfg (see Config for the defaults).
func New(cfg Config) (*Scheduler, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		cfg:     c,
		log:     log,
		sources: make(map[SourceID]*source),
		holders: make(map[string][]*source),
		lookups: make(map[string]*lookup),
		reqs:    make(map[ReqID]*request),
	}
	s.sources[CacheSource] = &source{info: SourceInfo{ID: CacheSource, Kind: KindCache, Connected: true}}
	return s, nil
}

// Config returns the configuration with defaults filled in.
func (s *Scheduler) Config() Config { return s.cfg }

// Stats returns the statistics of the current play, or of the last one
// after Stop. Chunks still in flight are not counted.
func (s *Scheduler) Stats() Stats {
	if s.cur != nil {
		return s.cur.stats
	}
	return s.last
}

// Position returns the playhead's byte offset in the current play at time
// at (no later than the last event), and whether a play is current.
func (s *Scheduler) Position(at time.Time) (int64, bool) {
	if s.cur == nil {
		return 0, false
	}
	return s.cur.ph.Position(at), true
}

// Outstanding returns the number of requests in flight.
func (s *Scheduler) Outstanding() int { return len(s.reqs) }

// newPlay validates t and builds a play of it.
func (s *Scheduler) newPlay(t TrackInfo) (*play, error) {
	n := len(t.ChunkSizes)
	if n == 0 {
		return nil, fmt.Errorf("%w: track %q has no chunks", ErrBadTrack, t.ID)
	}
	if t.Cached != nil && len(t.Cached) != n {
		return nil, fmt.Errorf("%w: track %q: %d cache flags for %d chunks", ErrBadTrack, t.ID, len(t.Cached), n)
	}
	offs := make([]int64, n+1)
	for i, sz := range t.ChunkSizes {
		if sz <= 0 {
			return nil, fmt.Errorf("%w: track %q: chunk %d has size %d", ErrBadTrack, t.ID, i, sz)
		}
		offs[i+1] = offs[i] + int64(sz)
	}
	var rate float64 // audio bytes per second
	switch {
	case t.Duration > 0:
		rate = float64(offs[n]) / t.Duration.Seconds()
	case t.BitrateBps > 0:
		rate = float64(t.BitrateBps) / 8
	default:
		return nil, fmt.Errorf("%w: track %q has neither Duration nor BitrateBps", ErrBadTrack, t.ID)
	}
	if t.Cached != nil {
		t.Cached = append([]bool(nil), t.Cached...) // Dropped may set flags
	}
	p := &play{track: t, offsets: offs, chunks: make([]chunkState, n)}
	p.ph.Rate = rate * s.cfg.Speed
	p.stats.Track = t.ID
	return p, nil
}

// audioBytes returns how many bytes of p play in d of audio.
func (s *Scheduler) audioBytes(p *play, d time.Duration) int64 {
	return int64(d.Seconds() * p.ph.Rate / s.cfg.Speed)
}

// wall converts a duration of audio into driver time.
func (s *Scheduler) wall(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.cfg.Speed)
}

// Step applies ev and appends the resulting actions to out, which it
// returns. Events must come in time order; an event older than the previous
// one is treated as happening at the previous one's time.
func (s *Scheduler) Step(ev Event, out []Action) ([]Action, error) {
	now := ev.Time()
	if now.IsZero() {
		return out, fmt.Errorf("%w: %T without a time", ErrBadEvent, ev)
	}
	if now.Before(s.now) {
		now = s.now
	}
	if tf, ok := ev.(TimerFired); ok && tf.Timer != s.armedID {
		// Superseded: the armed timer is never later than the next
		// decision, so this one has nothing to do.
		return out, nil
	}
	s.now = now
	out = s.advance(out)
	var err error
	switch e := ev.(type) {
	case Play:
		out, err = s.onPlay(e, out)
	case Seek:
		out, err = s.onSeek(e, out)
	case PlayerPosition:
		s.onPosition(e)
	case Pause:
		s.onPause()
	case Resume:
		if p := s.cur; p != nil && !p.stopped {
			p.ph.unpause(s.now)
		}
	case ChunkArrived:
		out = s.onArrived(e, out)
	case RequestFailed:
		out = s.onFailed(e, out)
	case TimerFired:
		if e.Timer == s.armedID {
			s.armedID, s.armedAt = 0, time.Time{}
		}
	case SourceUpdate:
		s.upsert(e.Source)
	case PeersFound:
		out = s.onPeersFound(e, out)
	case Show:
		out = s.onShow(e, out)
	case RoutingGrew:
		s.onRoutingGrew()
	case Dropped:
		err = s.onDropped(e)
	case Queue:
		out, err = s.onQueue(e, out)
	case Stop:
		out = s.onStop(out)
	default:
		return out, fmt.Errorf("%w: unknown event %T", ErrBadEvent, ev)
	}
	if err != nil {
		return out, err
	}
	out = s.advance(out)
	out = s.schedule(out)
	return out, nil
}

// advance moves the current playhead to s.now, recording a stall or the
// end of the track.
func (s *Scheduler) advance(out []Action) []Action {
	p := s.cur
	if p == nil || p.ended || p.stopped || !p.ph.started || p.ph.stalled || p.ph.paused {
		return out
	}
	p.skipArrived()
	if p.contig < p.n() {
		m := p.offsets[p.contig]
		if t := p.ph.TimeAt(m, s.now, s.cfg.StartTarget); !t.After(s.now) {
			p.ph.stall(t, m)
			p.stats.Stalls++
			s.log.Debug("stall", "track", p.track.ID, "chunk", p.contig)
		}
		return out
	}
	if t := p.ph.TimeAt(p.length(), s.now, s.cfg.StartTarget); !t.After(s.now) {
		p.ended = true
		p.stats.Ended = true
		s.last = p.stats
		out = append(out, Finished{Track: p.track.ID, Stats: p.stats})
	}
	return out
}

func (s *Scheduler) onPlay(e Play, out []Action) ([]Action, error) {
	var p *play
	adopt := s.next != nil && s.next.track.ID == e.Track.ID
	if adopt {
		p = s.next
	} else {
		var err error
		if p, err = s.newPlay(e.Track); err != nil {
			return out, err
		}
	}
	if e.StartOffset < 0 || e.StartOffset >= p.length() {
		return out, fmt.Errorf("%w: start offset %d outside track %q of %d bytes", ErrBadEvent, e.StartOffset, e.Track.ID, p.length())
	}
	if adopt {
		s.next = nil
		// The driver's view of the cache may have changed; prefetched
		// chunks stay arrived either way.
		if len(e.Track.Cached) == p.n() {
			p.track.Cached = append([]bool(nil), e.Track.Cached...)
		}
	}
	if s.cur != nil {
		out = s.cancelPlay(s.cur, out)
		if !s.cur.ended {
			s.last = s.cur.stats
		}
	}
	s.playSeq++
	s.cur = p
	p.stats.PlayAt = e.At
	p.progressAt = e.At
	p.ph.wait(e.At, e.StartOffset)
	p.start = p.chunkAt(e.StartOffset)
	p.contig = p.start
	if p.chunks[p.start].arrived {
		p.ph.start(e.At)
		p.stats.Started = true
	}
	out = s.prune(out)
	// Look the holders up unless a lookup is out or answered recently: an
	// answer older than LookupFresh is stale, and one that named no usable
	// holder is retried after LookupRetry (retryLookups keeps retrying).
	if lk := s.lookups[p.track.ID]; lk == nil || (!lk.pending(s.now) &&
		(s.now.Sub(lk.answeredAt) > s.cfg.LookupFresh ||
			(len(s.usableHolders(p)) == 0 && s.now.Sub(lk.answeredAt) >= s.cfg.LookupRetry))) {
		out = s.findPeers(p.track.ID, out)
	}
	out = s.warm(p, out)
	return out, nil
}

func (s *Scheduler) onSeek(e Seek, out []Action) ([]Action, error) {
	p := s.cur
	if p == nil || p.stopped {
		return out, fmt.Errorf("%w: seek without a play", ErrBadEvent)
	}
	if e.Offset < 0 || e.Offset >= p.length() {
		return out, fmt.Errorf("%w: seek to %d outside track of %d bytes", ErrBadEvent, e.Offset, p.length())
	}
	if p.ph.stalled {
		p.stats.StallTime += p.ph.resume(s.now)
	}
	p.stats.Seeks++
	p.progressAt = s.now
	p.ended = false
	p.ph.wait(s.now, e.Offset)
	p.start = p.chunkAt(e.Offset)
	p.contig = p.start
	p.seeking = true
	if p.chunks[p.start].arrived {
		p.ph.start(s.now)
		p.seeking = false
	}
	// Cancel what is now useless: chunks behind the new position and
	// beyond the new window.
	limit := e.Offset + s.audioBytes(p, s.cfg.BufferAhead)
	for i := range p.chunks {
		c := &p.chunks[i]
		if c.idle() {
			continue
		}
		if i >= p.start && p.offsets[i] <= limit {
			continue
		}
		out = s.cancelChunk(c, out)
	}
	return out, nil
}

func (s *Scheduler) onPosition(e PlayerPosition) {
	p := s.cur
	if p == nil || p.stopped || e.Offset < 0 || e.Offset > p.length() {
		return
	}
	if !p.ph.started {
		p.ph.anchorPos = e.Offset
		return
	}
	if p.ph.stalled {
		p.stats.StallTime += p.ph.resume(s.now)
	}
	p.ph.set(s.now, e.Offset)
	p.contig = p.chunkAt(e.Offset)
	if e.Offset >= p.length() {
		p.contig = p.n()
	}
	p.skipArrived()
}

// onPause pauses the current playhead; a stall in progress ends (a paused
// player waits for nobody) and starts again on Resume if the chunk is
// still missing.
func (s *Scheduler) onPause() {
	p := s.cur
	if p == nil || p.stopped {
		return
	}
	if p.ph.stalled {
		p.stats.StallTime += p.ph.resume(s.now)
	}
	p.ph.pause(s.now)
}

func (s *Scheduler) onStop(out []Action) []Action {
	if s.cur != nil {
		p := s.cur
		if p.ph.stalled {
			p.stats.StallTime += p.ph.resume(s.now)
		}
		out = s.cancelPlay(p, out)
		p.stopped = true
		s.last = p.stats
		s.cur = nil
	}
	if s.next != nil {
		out = s.cancelPlay(s.next, out)
		s.next = nil
	}
	return s.prune(out)
}

func (s *Scheduler) onQueue(e Queue, out []Action) ([]Action, error) {
	// Validate before changing anything.
	var p *play
	if len(e.Next) > 0 {
		t := e.Next[0]
		keep := s.next != nil && s.next.track.ID == t.ID
		repeat := s.cur != nil && s.cur.track.ID == t.ID
		if !keep && !repeat {
			var err error
			if p, err = s.newPlay(t); err != nil {
				return out, err
			}
		} else if keep {
			p = s.next
		}
	}
	s.queue = s.queue[:0]
	for i, t := range e.Next {
		s.queue = append(s.queue, t.ID)
		if i < s.cfg.LookupAhead && s.lookups[t.ID] == nil {
			out = s.findPeers(t.ID, out)
		}
	}
	if s.next != nil && s.next != p {
		out = s.cancelPlay(s.next, out)
	}
	s.next = p // nil for an empty queue or a repeat of the playing track
	out = s.prune(out)
	if p != nil && s.idle() {
		out = s.warm(p, out) // nothing plays: get ready for the next track now
	}
	return out, nil
}

// idle reports whether no track is playing.
func (s *Scheduler) idle() bool {
	return s.cur == nil || s.cur.stopped || s.cur.ended
}

// pruneAt is the number of tracks with holders or lookups, or of peers,
// above which prune runs: it keeps a scheduler's memory bounded over any
// number of plays at an amortised cost of O(1) per play.
const pruneAt = 64

// prune forgets holders and lookups of tracks neither playing nor queued,
// and peers that hold none of the tracks it keeps and have nothing in
// flight (with a Forget for each, so the driver forgets them too).
func (s *Scheduler) prune(out []Action) []Action {
	if len(s.holders) < pruneAt && len(s.lookups) < pruneAt && len(s.sources) < 4*pruneAt {
		return out
	}
	keep := func(id string) bool {
		if (s.cur != nil && s.cur.track.ID == id) || (s.next != nil && s.next.track.ID == id) {
			return true
		}
		for _, q := range s.queue {
			if q == id {
				return true
			}
		}
		for _, q := range s.shown {
			if q.id == id {
				return true
			}
		}
		return false
	}
	s.pruneSeq++
	for id, list := range s.holders {
		if !keep(id) {
			delete(s.holders, id)
			continue
		}
		for _, h := range list {
			h.pruneSeen = s.pruneSeq
		}
	}
	for id := range s.lookups {
		if !keep(id) {
			delete(s.lookups, id)
		}
	}
	for id, src := range s.sources {
		if src.info.Kind == KindPeer && id != CacheSource && src.outstanding == 0 && src.pruneSeen != s.pruneSeq {
			delete(s.sources, id)
			out = append(out, Forget{Source: id})
		}
	}
	return out
}

// upsert records what the driver says about a source.
func (s *Scheduler) upsert(info SourceInfo) *source {
	if info.ID == CacheSource {
		return s.sources[CacheSource]
	}
	src := s.sources[info.ID]
	if src == nil {
		src = &source{}
		s.sources[info.ID] = src
		if info.Kind == KindOrigin {
			s.origins = append(s.origins, src)
		}
	}
	if src.info.Kind == KindOrigin && info.Kind != KindOrigin {
		info.Kind = KindOrigin // a source does not change kind
	}
	if src.info.Connected && !info.Connected {
		src.warmed = false
	}
	if !src.info.Connected && info.Connected && src.info.Kind == KindPeer {
		src.backoffUntil = time.Time{} // it is back
	}
	src.info = info
	return src
}

func (s *Scheduler) onPeersFound(e PeersFound, out []Action) []Action {
	list := s.holders[e.Track]
	for _, info := range e.Sources {
		if info.Kind == KindOrigin || info.ID == CacheSource {
			s.upsert(info)
			continue
		}
		info.Kind = KindPeer
		src := s.sources[info.ID]
		if src != nil {
			// A lookup result may not know the connection state or the
			// measurements: keep what we know.
			info.Connected = info.Connected || src.info.Connected
			if info.RTT == 0 {
				info.RTT = src.info.RTT
			}
			if info.BytesPerSecond == 0 {
				info.BytesPerSecond = src.info.BytesPerSecond
			}
		}
		src = s.upsert(info)
		dup := false
		for _, h := range list {
			if h == src {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, src)
		}
	}
	s.holders[e.Track] = list
	if lk := s.lookups[e.Track]; lk != nil {
		lk.inflight = false
		lk.answeredAt = s.now
		if len(s.usableHoldersOf(e.Track)) == 0 {
			// Found nothing usable (or the lookup failed): look again
			// later, sooner when the routing table grows.
			lk.empty = true
			lk.fails++
			lk.retryAt = s.now.Add(min(s.cfg.LookupRetry<<min(lk.fails-1, 16), s.cfg.LookupRetryMax))
		} else {
			lk.empty, lk.fails = false, 0
		}
	}
	if s.cur != nil && s.cur.track.ID == e.Track {
		out = s.warm(s.cur, out)
	}
	if s.next != nil && s.next.track.ID == e.Track && (s.next.prefetchPeers || s.idle()) {
		out = s.warm(s.next, out)
	}
	return out
}

// warm asks to connect to the best not-connected holders of p's track,
// up to Config.WarmPeers warmed or connected ones.
func (s *Scheduler) warm(p *play, out []Action) []Action {
	if s.cfg.WarmPeers < 0 {
		return out
	}
	have := 0
	for _, h := range s.holders[p.track.ID] {
		if h.info.Connected || h.warmed {
			have++
		}
	}
	for have < s.cfg.WarmPeers {
		var best *source
		var bestETA time.Time
		for _, h := range s.holders[p.track.ID] {
			if h.info.Connected || h.warmed || !s.usable(h) {
				continue
			}
			if eta := s.eta(h, catalogChunk); best == nil || eta.Before(bestETA) {
				best, bestETA = h, eta
			}
		}
		if best == nil {
			break
		}
		best.warmed = true
		have++
		out = append(out, Warm{Source: best.info.ID})
	}
	return out
}

// catalogChunk is the chunk size used to rank sources when no chunk is at
// hand (catalog.ChunkSize; sched does not import catalog).
const catalogChunk = 16 << 10

func (s *Scheduler) onArrived(e ChunkArrived, out []Action) []Action {
	r := s.reqs[e.Req]
	if r == nil {
		// Cancelled or unknown: the bytes were wasted.
		if s.cur != nil {
			s.cur.stats.WastedBytes += int64(e.Bytes)
		}
		return out
	}
	p, chunk, id, src, model := r.p, r.chunk, r.id, r.src, r.model
	c := &p.chunks[chunk]
	kind := src.info.Kind
	if src.info.ID == CacheSource {
		kind = KindCache
	}
	if kind == KindOrigin {
		src.info.Connected = true
	}
	s.learnLag(src, model, true)
	src.fails, src.lacks = 0, 0
	s.grow(src, e.Bytes)
	s.release(r)
	c.forget(id)
	if c.arrived {
		p.stats.WastedBytes += int64(e.Bytes)
		return out
	}
	c.arrived = true
	c.failed = false
	p.progressAt = s.now
	p.stats.Bytes[kind] += int64(e.Bytes)
	out = s.cancelChunk(c, out) // the loser of a race or hedge
	if p != s.cur {
		return out
	}
	if !p.ph.started && chunk == p.start {
		p.ph.start(s.now)
		if p.seeking {
			p.seeking = false
			p.stats.SeekWait += s.now.Sub(p.ph.waitAt)
		} else {
			p.stats.Started = true
			p.stats.StartLatency = s.now.Sub(p.stats.PlayAt)
		}
	}
	if p.ph.stalled && chunk == p.contig {
		p.stats.StallTime += p.ph.resume(s.now)
	}
	p.skipArrived()
	return out
}

func (s *Scheduler) onFailed(e RequestFailed, out []Action) []Action {
	r := s.reqs[e.Req]
	if r == nil {
		return out
	}
	p, chunk, id, src := r.p, r.chunk, r.id, r.src
	c := &p.chunks[chunk]
	p.stats.Failures++
	s.release(r)
	c.forget(id)
	if src.info.ID == CacheSource && p.track.Cached != nil {
		// The cache no longer has it (evicted): fetch it from the
		// network instead of asking the cache again.
		p.track.Cached[chunk] = false
	}
	if src.info.Kind == KindPeer {
		c.failed = true
	}
	burst := s.now.Before(src.backoffUntil) // already backed off: the same burst
	switch e.Reason {
	case FailDontHave:
		switch {
		case src.info.Kind == KindPeer && chunk == 0:
			s.dropHolder(p.track.ID, src) // it does not have the track at all
		case src.info.Kind == KindPeer:
			if src.lackTrack != p.track.ID || chunk < src.lackFrom || !s.now.Before(src.lackRetry) {
				src.lackFrom = chunk
			}
			src.lackTrack = p.track.ID
			src.lacks++
			src.lackRetry = s.now.Add(s.cfg.BusyBackoff << min(src.lacks-1, 5))
		default:
			s.backoff(src)
		}
	case FailCorrupt:
		src.bannedPlay = s.playSeq
		if src.info.Kind == KindPeer {
			s.dropHolder(p.track.ID, src)
		}
	case FailGone:
		if src.info.Kind == KindPeer {
			src.info.Connected = false
			src.warmed = false
		}
		s.backoff(src)
	case FailBusy:
		if src.info.Kind != KindPeer {
			s.backoff(src)
			break
		}
		// A busy peer is loaded, not failing: its upload slots are all
		// taken by other listeners. It is left alone for BusyBackoff,
		// never longer (a slot frees as soon as one of them is served),
		// and the chunk goes to the next best holder in this very step;
		// when no other holder has room, more are looked up at once: a
		// popular track gains holders by the second.
		src.backoffUntil = s.now.Add(s.cfg.BusyBackoff)
		src.busyUntil = src.backoffUntil
		out = s.lookForRoom(p, chunk, out)
	default: // Timeout, unknown
		s.backoff(src)
	}
	if e.Reason != FailDontHave && !burst {
		s.shrink(src)
	}
	s.log.Debug("request failed", "source", src.info.ID, "chunk", chunk, "reason", e.Reason.String())
	return out
}

// lookForRoom looks up more holders of p's track when none of the usable
// ones known has a free slot for chunk i: unless a lookup is out, or one
// was answered less than Config.LookupRetry ago.
func (s *Scheduler) lookForRoom(p *play, i int, out []Action) []Action {
	if bp, _ := s.bestPeer(s.usableHolders(p), p, i, true, false); bp != nil {
		return out
	}
	lk := s.lookups[p.track.ID]
	if lk != nil && (lk.pending(s.now) || s.now.Before(lk.answeredAt.Add(s.cfg.LookupRetry))) {
		return out
	}
	s.log.Debug("every holder busy: looking for more", "track", p.track.ID)
	return s.findPeers(p.track.ID, out)
}

func (s *Scheduler) dropHolder(track string, src *source) {
	list := s.holders[track]
	for i, h := range list {
		if h == src {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			s.holders[track] = list[:len(list)-1]
			return
		}
	}
}

// learnLag updates src's lag from a request that the driver's figures
// expected at model and that arrived now (arrived) or is given up now (a
// cancelled loser: the lag is at least now-model).
func (s *Scheduler) learnLag(src *source, model time.Time, arrived bool) {
	if src.info.Kind == KindCache {
		return
	}
	sample := s.now.Sub(model)
	if sample < 0 {
		sample = 0
	}
	if !arrived && sample <= src.lag {
		return
	}
	src.lag += (sample - src.lag) / 4
}

// release forgets r and frees its source slot.
func (s *Scheduler) release(r *request) {
	delete(s.reqs, r.id)
	r.src.outstanding--
	r.src.queued -= int64(r.bytes)
	*r = request{}
	s.free = append(s.free, r)
}

// cancelChunk cancels every request in flight for c.
func (s *Scheduler) cancelChunk(c *chunkState, out []Action) []Action {
	for _, id := range [3]ReqID{c.primary, c.alt, c.origin} {
		if id == 0 {
			continue
		}
		if r := s.reqs[id]; r != nil {
			r.p.stats.Cancels++
			s.learnLag(r.src, r.model, false)
			s.release(r)
		}
		out = append(out, Cancel{Req: id})
	}
	c.primary, c.alt, c.origin = 0, 0, 0
	return out
}

// cancelPlay cancels every request of p.
func (s *Scheduler) cancelPlay(p *play, out []Action) []Action {
	for i := range p.chunks {
		if c := &p.chunks[i]; !c.idle() {
			out = s.cancelChunk(c, out)
		}
	}
	return out
}

// send issues a request for chunk i of p to src.
func (s *Scheduler) send(p *play, i int, src *source, reason Reason, out []Action) []Action {
	s.lastReq++
	var r *request
	if n := len(s.free); n > 0 {
		r, s.free = s.free[n-1], s.free[:n-1]
	} else {
		r = new(request)
	}
	size := p.track.ChunkSizes[i]
	kind := src.info.Kind
	exp := s.eta(src, size)
	*r = request{id: s.lastReq, p: p, chunk: i, src: src, bytes: size, reason: reason, expected: exp, model: exp.Add(-src.lag)}
	s.reqs[r.id] = r
	src.outstanding++
	src.queued += int64(size)
	c := &p.chunks[i]
	switch {
	case kind == KindOrigin && c.primary != 0:
		c.origin = r.id
	case c.primary == 0:
		c.primary = r.id
	default:
		c.alt = r.id
	}
	if kind == KindOrigin {
		p.stats.OriginRequests[reason]++
	}
	p.stats.Requests[kind]++
	if !src.info.Connected && kind == KindPeer {
		src.warmed = true // the request dials it
	}
	return append(out, Request{ID: r.id, Track: p.track.ID, Chunk: i, Bytes: size, Source: src.info.ID, Kind: kind, Reason: reason, Deadline: s.deadline(p, i)})
}

// lookup is the state of a track's DHT lookups.
type lookup struct {
	inflight bool      // a FindPeers is out
	sentAt   time.Time // when it went out
	empty    bool      // the last answer held no usable holder: look again
	fails    int       // lookups in a row that found no usable holder
	retryAt  time.Time // when to look again, if empty
	// answeredAt is when the last answer came.
	answeredAt time.Time
}

// lookupLost is how long a FindPeers may go unanswered before the
// scheduler stops waiting for it and may send another.
const lookupLost = 30 * time.Second

// pending reports whether a lookup is out and not yet given up on.
func (lk *lookup) pending(now time.Time) bool {
	return lk.inflight && now.Sub(lk.sentAt) < lookupLost
}

// findPeers asks the driver to look up track's holders.
func (s *Scheduler) findPeers(track string, out []Action) []Action {
	lk := s.lookups[track]
	if lk == nil {
		lk = &lookup{}
		s.lookups[track] = lk
	}
	lk.inflight, lk.sentAt = true, s.now
	return append(out, FindPeers{Track: track})
}

// retryLookups looks again for the holders of the tracks that play, are
// queued (up to Config.LookupAhead) or are shown, whose last lookup found no
// usable holder, once their retry time has come.
func (s *Scheduler) retryLookups(out []Action) []Action {
	try := func(id string) {
		lk := s.lookups[id]
		if lk == nil || !lk.empty || lk.pending(s.now) {
			return
		}
		if s.now.Before(lk.retryAt) {
			s.note(lk.retryAt)
			return
		}
		if len(s.usableHoldersOf(id)) > 0 {
			lk.empty, lk.fails = false, 0
			return
		}
		out = s.findPeers(id, out)
	}
	if p := s.cur; p != nil && !p.stopped && !p.ended {
		try(p.track.ID)
	}
	for i, id := range s.queue {
		if i < s.cfg.LookupAhead {
			try(id)
		}
	}
	keep := s.shown[:0]
	for _, sh := range s.shown {
		if s.now.Sub(sh.at) < shownFor {
			keep = append(keep, sh)
			try(sh.id)
		}
	}
	clear(s.shown[len(keep):])
	s.shown = keep
	return out
}

// maxShown is how many shown tracks (Show) the scheduler keeps looking up,
// and shownFor for how long after their last Show.
const (
	maxShown = 16
	shownFor = 2 * time.Minute
)

// shownTrack is a track shown to the listener, and when it last was.
type shownTrack struct {
	id string
	at time.Time
}

func (s *Scheduler) onShow(e Show, out []Action) []Action {
	for i, sh := range s.shown {
		if sh.id == e.Track {
			s.shown = append(s.shown[:i], s.shown[i+1:]...)
			break
		}
	}
	if len(s.shown) == maxShown {
		s.shown = append(s.shown[:0], s.shown[1:]...)
	}
	s.shown = append(s.shown, shownTrack{id: e.Track, at: s.now})
	if lk := s.lookups[e.Track]; lk == nil || (lk.empty && !lk.pending(s.now)) {
		out = s.findPeers(e.Track, out)
	}
	return out
}

// onRoutingGrew retries at once every lookup that found nothing, with its
// backoff started afresh (the new peer may bring others), and lets
// disconnected peers be asked again: the one that joined may be one of
// them.
func (s *Scheduler) onRoutingGrew() {
	for _, lk := range s.lookups {
		if lk.empty {
			lk.fails, lk.retryAt = 0, s.now
		}
	}
	for _, src := range s.sources {
		if src.info.Kind == KindPeer && !src.info.Connected {
			src.backoffUntil = time.Time{}
		}
	}
}

// giveUp ends the current play when it cannot progress: its playhead has
// waited or stalled (not paused) with no chunk of it arriving for
// Config.GiveUpAfter. Otherwise it asks to be woken when that time comes.
func (s *Scheduler) giveUp(out []Action) []Action {
	p := s.cur
	if s.cfg.GiveUpAfter <= 0 || p == nil || p.stopped || p.ended || p.ph.paused {
		return out
	}
	var since time.Time
	switch {
	case !p.ph.started:
		since = p.ph.waitAt
	case p.ph.stalled:
		since = p.ph.stallAt
	default:
		return out
	}
	if p.progressAt.After(since) {
		since = p.progressAt
	}
	at := since.Add(s.cfg.GiveUpAfter)
	if s.now.Before(at) {
		s.note(at)
		return out
	}
	out = s.cancelPlay(p, out)
	if p.ph.stalled {
		p.stats.StallTime += p.ph.resume(s.now)
	}
	p.stopped = true
	s.last = p.stats
	s.cur = nil
	s.log.Debug("giving up", "track", p.track.ID, "stuck", s.now.Sub(since))
	return append(out, GaveUp{Track: p.track.ID, Stuck: s.now.Sub(since), Stats: p.stats})
}

// onDropped marks a chunk of the current play missing again.
func (s *Scheduler) onDropped(e Dropped) error {
	p := s.cur
	if p == nil || p.stopped {
		return nil // the play it belonged to is over
	}
	if e.Chunk < 0 || e.Chunk >= p.n() {
		return fmt.Errorf("%w: dropped chunk %d of a %d-chunk track", ErrBadEvent, e.Chunk, p.n())
	}
	c := &p.chunks[e.Chunk]
	if !c.arrived {
		return nil
	}
	c.arrived = false
	if e.Cached {
		if p.track.Cached == nil {
			p.track.Cached = make([]bool, p.n())
		}
		p.track.Cached[e.Chunk] = true
	}
	// The playhead needs it again only if it lies ahead.
	if at := p.chunkAt(p.ph.Position(s.now)); e.Chunk >= at && e.Chunk < p.contig {
		p.contig = e.Chunk
	}
	return nil
}
