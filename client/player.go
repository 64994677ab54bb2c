package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
)

// player runs the deadline scheduler (client/sched) on real sources and an
// injected clock. It is the one owner of every play: it starts, queues,
// seeks, positions and stops them, and every Playback reaches it only
// through playControl.
//
// Every method whose name ends in OnLoop, and every field below run, is
// used only on the runner's loop (one at a time, never re-entrantly); the
// exported-style wrappers (Start, Queue, Lookup and the playControl
// methods) post to it. Blocking work (fetches, lookups, dials) goes to
// runner.spawn and reports back with runner.post. With a synchronous
// runner and a fake clock a test drives all of it, measurement, failure
// classification and banning included, without goroutines.
type player struct {
	cfg    playerConfig
	src    playerSources
	run    runner
	ctx    context.Context // cancelled by close: ends every fetch
	cancel context.CancelFunc

	sched    *sched.Scheduler
	sources  map[sched.SourceID]ChunkSource
	addrs    map[sched.SourceID]peer.AddrInfo
	measured map[sched.SourceID]*measure
	reqs     map[sched.ReqID]context.CancelFunc
	timer    clock.Timer            // the armed timer; an ArmTimer supersedes the one before
	timerID  sched.TimerID          // its ID
	tracks   map[string]*trackState // the current track and the queued ones
	cur      *trackState
	queued   []*trackState // the last Queue
	out      []sched.Action
	// originTold holds the origins whose certificate did not verify or
	// that could not be reached, each told to the listener once, until it
	// answers again.
	originTold map[sched.SourceID]bool
}

// playerConfig is what a player needs of the client's options.
type playerConfig struct {
	sched   sched.Config
	clock   clock.Clock
	log     *slog.Logger
	giveUp  time.Duration // end a play with ErrNoSource after this long without progress
	maxProv int           // providers per DHT lookup
}

// playerSources are where a player gets chunks and peers; swarm and cache
// may be nil.
type playerSources struct {
	origins []ChunkSource
	swarm   Swarm
	cache   Cache
}

// runner carries out a player's work. post runs f on the loop, after the
// functions posted before it and never inside another one; it reports false
// once the runner is closed. call is post that waits for f to have run.
// spawn runs blocking work off the loop. watch posts f once ch is closed
// (never, if the runner closes first). close runs final on the loop, then
// refuses further posts, and returns when final has run.
type runner interface {
	post(f func()) bool
	call(f func()) bool
	spawn(f func())
	watch(ch <-chan struct{}, f func())
	close(final func())
}

// playControl is what a Playback asks of the player that runs it. Each
// method concerns pb alone and does nothing once pb no longer plays (it was
// closed, replaced by another play, or gave up).
type playControl interface {
	seek(pb *Playback, offset int64)
	// position returns the playhead's offset, and false if pb does not
	// play.
	position(pb *Playback) (int64, bool)
	// schedStats returns the scheduler's statistics of pb's play, and false
	// if pb does not play.
	schedStats(pb *Playback) (sched.Stats, bool)
	// stop ends pb's play; stats are pb's final statistics.
	stop(pb *Playback)
	// pause and resume stop and restart the play's playback clock; heard
	// re-anchors its playhead at the player's reported position.
	pause(pb *Playback)
	resume(pb *Playback)
	heard(pb *Playback, offset int64)
	// dropped tells the scheduler that pb no longer holds these chunks.
	dropped(pb *Playback, chunks []int)
}

var _ playControl = (*player)(nil)

// trackState is what the player knows of a track it plays or prefetches.
type trackState struct {
	id       string
	cid      cid.Cid
	m        *catalog.Manifest
	key      catalog.TrackKey
	pb       *Playback // nil while only prefetched
	chunks   [][]byte  // decrypted chunks that arrived, for a prefetched track
	provided bool
	failures failures // since a chunk of it last arrived
}

// failures are what went wrong with a track's requests since a chunk of it
// last arrived, kept to tell a listener why a play gave up.
type failures struct {
	untrusted   error // an origin's certificate did not verify
	unreachable error // an origin could not be reached
	corrupt     error // the last corrupt chunk
	last        error // the last failure of any kind
	n, nCorrupt int
}

func (f *failures) note(err error, reason sched.FailReason) {
	f.n++
	f.last = err
	switch {
	case errors.Is(err, ErrUntrustedOrigin):
		f.untrusted = err
	case errors.Is(err, ErrOriginUnreachable):
		f.unreachable = err
	case reason == sched.FailCorrupt:
		f.nCorrupt++
		f.corrupt = err
	}
}

// arrived forgets the failures a delivered chunk made stale. Corrupt
// data is kept: its source stays banned for the play, so it still explains
// a play that cannot progress (another chunk, requested in the same flight,
// may arrive after the corrupt one was refused).
func (f *failures) arrived() {
	*f = failures{corrupt: f.corrupt, n: f.nCorrupt, nCorrupt: f.nCorrupt}
}

// cause is the most telling failure: one the user can act on first.
func (f *failures) cause() error {
	switch {
	case f.untrusted != nil:
		return f.untrusted
	case f.unreachable != nil:
		return f.unreachable
	case f.nCorrupt > 0 && f.nCorrupt == f.n:
		return fmt.Errorf("%w: %w", ErrAllCorrupt, f.corrupt)
	case f.last != nil:
		return fmt.Errorf("every source failed; last error: %w", f.last)
	}
	return nil
}

// measure is what the player has seen of a source: its round trip (the
// smallest recent request latency) and its delivery rate, reported to the
// scheduler in SourceUpdate.
type measure struct {
	rtt         time.Duration
	bps         float64
	inflight    int       // requests outstanding now
	lastArrival time.Time // when the previous answer arrived
}

// requestTimeout bounds any one chunk request; the scheduler hedges long
// before it for chunks that are due.
const requestTimeout = 10 * time.Second

func newPlayer(cfg playerConfig, src playerSources, run runner) (*player, error) {
	if cfg.giveUp > 0 {
		cfg.sched.GiveUpAfter = cfg.giveUp
	}
	s, err := sched.New(cfg.sched)
	if err != nil {
		return nil, fmt.Errorf("client: scheduler: %w", err)
	}
	cfg.clock = clock.Or(cfg.clock)
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &player{
		cfg:      cfg,
		src:      src,
		run:      run,
		ctx:      ctx,
		cancel:   cancel,
		sched:    s,
		sources:  map[sched.SourceID]ChunkSource{},
		addrs:    map[sched.SourceID]peer.AddrInfo{},
		measured: map[sched.SourceID]*measure{},
		reqs:     map[sched.ReqID]context.CancelFunc{},
		tracks:   map[string]*trackState{},

		originTold: map[sched.SourceID]bool{},
	}
	p.watchRouting()
	return p, nil
}

// watchRouting tells the scheduler each time the swarm's routing table
// grows, if the swarm reports it (RoutingNotifier).
func (p *player) watchRouting() {
	rn, ok := p.src.swarm.(RoutingNotifier)
	if !ok {
		return
	}
	p.run.watch(rn.RoutingTableChanged(), func() {
		p.step(sched.RoutingGrew{At: p.now()})
		p.watchRouting()
	})
}

// track is a track to play or queue, with its manifest and key.
type track struct {
	id  string
	cid cid.Cid
	m   *catalog.Manifest
	key catalog.TrackKey
}

// Start starts pb's play of t at offset, replacing the current play. It
// reports false once the player is closed.
func (p *player) Start(pb *Playback, t track, offset int64) bool {
	return p.run.call(func() { p.startOnLoop(pb, t, offset) })
}

// Queue tells the scheduler which tracks come next.
func (p *player) Queue(ts []track) bool {
	return p.run.call(func() { p.queueOnLoop(ts) })
}

// SetOrigins gives a player started without origins its origins, which
// the next Start or Queue registers.
func (p *player) SetOrigins(srcs []ChunkSource) bool {
	return p.run.call(func() { p.src.origins = srcs })
}

// Lookup looks up a track's holders without playing it.
func (p *player) Lookup(trackID string) bool {
	return p.run.post(func() { p.step(sched.Show{At: p.now(), Track: trackID}) })
}

func (p *player) seek(pb *Playback, offset int64) {
	p.run.post(func() {
		if p.owns(pb) {
			p.step(sched.Seek{At: p.now(), Offset: offset})
		}
	})
}

func (p *player) position(pb *Playback) (pos int64, ok bool) {
	p.run.call(func() {
		if p.owns(pb) && p.sched.Stats().Started {
			pos, ok = p.sched.Position(p.now())
		}
	})
	return pos, ok
}

func (p *player) schedStats(pb *Playback) (st sched.Stats, ok bool) {
	p.run.call(func() {
		if p.owns(pb) {
			st, ok = p.sched.Stats(), true
		}
	})
	return st, ok
}

func (p *player) stop(pb *Playback) {
	p.run.call(func() {
		if !p.owns(pb) {
			return
		}
		pb.setSched(p.sched.Stats())
		// A play that ended needs no Stop: stopping would also drop the
		// queued next track's prefetch.
		if !pb.hasEnded() {
			p.step(sched.Stop{At: p.now()})
		}
		p.release(nil)
	})
}

func (p *player) pause(pb *Playback) {
	p.event(pb, func(at time.Time) sched.Event { return sched.Pause{At: at} })
}

func (p *player) resume(pb *Playback) {
	p.event(pb, func(at time.Time) sched.Event { return sched.Resume{At: at} })
}

func (p *player) heard(pb *Playback, offset int64) {
	p.event(pb, func(at time.Time) sched.Event { return sched.PlayerPosition{At: at, Offset: offset} })
}

func (p *player) dropped(pb *Playback, chunks []int) {
	p.run.post(func() {
		if !p.owns(pb) {
			return
		}
		for _, i := range chunks {
			cached := p.src.cache != nil && p.src.cache.Has(p.cur.m.Chunks[i].CID)
			p.step(sched.Dropped{At: p.now(), Chunk: i, Cached: cached})
			if !p.owns(pb) {
				return
			}
		}
	})
}

// event steps the scheduler with ev(now) if pb plays, and waits for it, so
// a Position read afterwards sees it.
func (p *player) event(pb *Playback, ev func(at time.Time) sched.Event) {
	p.run.call(func() {
		if p.owns(pb) {
			p.step(ev(p.now()))
		}
	})
}

// close stops every play and every fetch.
func (p *player) close() {
	p.cancel()
	p.run.close(p.shutdownOnLoop)
}

// owns reports whether pb is the current play.
func (p *player) owns(pb *Playback) bool {
	return pb != nil && p.cur != nil && p.cur.pb == pb
}

// release detaches the current play from its Playback, failing the
// Playback with err unless err is nil.
func (p *player) release(err error) {
	if p.cur == nil {
		return
	}
	if pb := p.cur.pb; pb != nil {
		pb.setSched(p.sched.Stats())
		if err != nil {
			pb.fail(err)
		}
	}
	p.cur.pb = nil
	p.cur = nil
}

// shutdownOnLoop cancels everything in flight.
func (p *player) shutdownOnLoop() {
	for _, cancel := range p.reqs {
		cancel()
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.release(ErrClosed)
}

// now is the time stamped on events.
func (p *player) now() time.Time { return p.cfg.clock.Now() }

// later feeds an event to the scheduler after the current step's actions:
// an action never steps the scheduler from inside a step.
func (p *player) later(ev sched.Event) {
	p.run.post(func() { p.step(ev) })
}

// step feeds one event to the scheduler and carries out its actions. It
// must not be called from inside an action (use later).
func (p *player) step(ev sched.Event) {
	out, err := p.sched.Step(ev, p.out[:0])
	p.out = out[:0]
	if err != nil {
		p.cfg.log.Error("scheduler refused an event", "event", fmt.Sprintf("%T", ev), "err", err)
		p.release(err)
		return
	}
	for _, a := range out {
		p.act(a)
	}
	if ts := p.cur; ts != nil && ts.pb != nil {
		if pos, ok := p.sched.Position(p.now()); ok {
			ts.pb.setHead(pos)
		}
	}
}

func (p *player) act(a sched.Action) {
	switch a := a.(type) {
	case sched.Request:
		p.request(a)
	case sched.Cancel:
		if cancel, ok := p.reqs[a.Req]; ok {
			cancel()
			delete(p.reqs, a.Req)
		}
	case sched.ArmTimer:
		if p.timer != nil {
			p.timer.Stop()
		}
		id := a.Timer
		p.timerID = id
		p.timer = p.cfg.clock.AfterFunc(a.At.Sub(p.now()), func() {
			p.run.post(func() {
				if p.timerID == id {
					p.timer = nil
				}
				p.step(sched.TimerFired{At: p.now(), Timer: id})
			})
		})
	case sched.FindPeers:
		p.findPeersOnLoop(a.Track)
	case sched.Warm:
		p.warm(a.Source)
	case sched.Forget:
		delete(p.sources, a.Source)
		delete(p.addrs, a.Source)
		delete(p.measured, a.Source)
	case sched.Finished:
		if ts := p.tracks[a.Track]; ts != nil && ts.pb != nil {
			ts.pb.finish(a.Stats)
		}
	case sched.GaveUp:
		ts := p.cur
		if ts == nil || ts.id != a.Track || ts.pb == nil {
			return
		}
		err := &StuckError{Track: ts.id, After: a.Stuck, Cause: ts.failures.cause(), Banned: ts.pb.bannedSources()}
		p.cfg.log.Debug("play gave up", "track", ts.id, "err", err) // the reader reports err
		ts.pb.setSched(a.Stats)
		ts.pb.fail(err)
		ts.pb = nil
		p.cur = nil
	}
}

// addOrigins registers the origins with the scheduler.
func (p *player) addOrigins() {
	for _, o := range p.src.origins {
		id := sched.SourceID(o.Name())
		if _, ok := p.sources[id]; ok {
			continue
		}
		p.sources[id] = o
		p.step(sched.SourceUpdate{At: p.now(), Source: sched.SourceInfo{ID: id, Kind: sched.KindOrigin, Connected: true}})
	}
}

// trackInfo describes a track to the scheduler, with what the cache holds.
func (p *player) trackInfo(ts *trackState) sched.TrackInfo {
	m := ts.m
	info := sched.TrackInfo{ID: ts.id, ChunkSizes: make([]int, len(m.Chunks)), Cached: make([]bool, len(m.Chunks))}
	for i, ch := range m.Chunks {
		info.ChunkSizes[i] = ch.Size
		info.Cached[i] = (p.src.cache != nil && p.src.cache.Has(ch.CID)) || (ts.chunks != nil && ts.chunks[i] != nil)
	}
	info.Duration = time.Duration(m.DurationMS) * time.Millisecond
	info.BitrateBps = int64(m.BitrateKbps) * 1000
	if info.Duration <= 0 && info.BitrateBps <= 0 {
		info.BitrateBps = defaultBitrate
	}
	return info
}

// defaultBitrate paces tracks whose headers gave neither duration nor
// bitrate: 320 kbit/s, the highest common streaming rate, so deadlines err
// early.
const defaultBitrate = 320_000

// stateOf returns the player's state of t, new if it has none.
func (p *player) stateOf(t track) *trackState {
	if ts := p.tracks[t.id]; ts != nil {
		return ts
	}
	ts := &trackState{id: t.id, cid: t.cid, m: t.m, key: t.key}
	p.tracks[t.id] = ts
	return ts
}

// pruneTracks forgets the tracks that neither play nor are queued in keep.
func (p *player) pruneTracks(keep []*trackState) {
	for id, ts := range p.tracks {
		if ts == p.cur {
			continue
		}
		kept := false
		for _, k := range keep {
			kept = kept || k == ts
		}
		if !kept {
			delete(p.tracks, id)
		}
	}
}

func (p *player) startOnLoop(pb *Playback, t track, offset int64) {
	p.addOrigins()
	ts := p.stateOf(t)
	if p.cur != nil && p.cur != ts {
		p.release(ErrClosed)
	}
	ts.pb = pb
	p.cur = ts
	// Hand over what a prefetch already brought.
	for i, c := range ts.chunks {
		if c != nil {
			pb.put(i, c)
		}
	}
	ts.chunks = nil
	p.pruneTracks(p.queued)
	info := p.trackInfo(ts)
	pb.setWindow(windowFor(ts.m, info.BitrateBps, p.sched.Config().BufferAhead))
	p.step(sched.Play{At: pb.start, Track: info, StartOffset: offset})
}

func (p *player) queueOnLoop(tracks []track) {
	p.addOrigins()
	var next []sched.TrackInfo
	var keep []*trackState
	for _, t := range tracks {
		ts := p.stateOf(t)
		if ts.pb == nil && ts.chunks == nil {
			ts.chunks = make([][]byte, len(ts.m.Chunks))
		}
		keep = append(keep, ts)
		next = append(next, p.trackInfo(ts))
	}
	p.queued = keep
	p.pruneTracks(keep)
	p.step(sched.Queue{At: p.now(), Next: next})
}

// request carries out one Request action.
func (p *player) request(a sched.Request) {
	ts := p.tracks[a.Track]
	if ts == nil || a.Chunk < 0 || a.Chunk >= len(ts.m.Chunks) {
		p.later(sched.RequestFailed{At: p.now(), Req: a.ID, Reason: sched.FailGone})
		return
	}
	var src ChunkSource
	if a.Source == sched.CacheSource {
		if p.src.cache == nil {
			p.later(sched.RequestFailed{At: p.now(), Req: a.ID, Reason: sched.FailDontHave})
			return
		}
		src = CacheSource{p.src.cache}
	} else if src = p.sources[a.Source]; src == nil {
		p.later(sched.RequestFailed{At: p.now(), Req: a.ID, Reason: sched.FailGone})
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, requestTimeout)
	p.reqs[a.ID] = cancel
	start := p.now()
	m := p.measureOf(a.Source)
	m.inflight++
	busy := m.inflight > 1 // queued behind another request: service time is the gap between answers
	ch := ts.m.Chunks[a.Chunk]
	fetch := func() ([]byte, error) { return src.Fetch(ctx, ch.CID) }
	if st, ok := src.(starter); ok {
		fetch = st.start(ctx, ch.CID, a.Deadline) // queued now, in the step's order
	}
	pb := ts.pb // the playback to deliver to; nil for a prefetch
	p.run.spawn(func() {
		data, err := fetch()
		var plain []byte
		if err == nil {
			plain, err = catalog.DecryptChunk(ts.m, ts.key, a.Chunk, data)
		}
		deliver := err == nil && pb != nil && ctx.Err() == nil
		cancelled := ctx.Err() != nil && p.ctx.Err() == nil && !errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		// The answer is queued on the loop before the reader can see the
		// chunk, so statistics asked for after a read include it.
		p.run.post(func() { p.answered(a, ts, src, m, start, busy, cancelled, len(data), plain, err) })
		if deliver {
			// Verified and decrypted: the reader may have it at once,
			// without waiting for the loop, which is busiest at a start
			// (whichever put comes second finds it there).
			pb.put(a.Chunk, plain)
		}
		// Cache the ciphertext after the chunk went to the player, off the
		// start's critical path; once the node holds part of the track it
		// announces it.
		if err != nil || a.Source == sched.CacheSource || p.src.cache == nil {
			return
		}
		if perr := p.src.cache.Put(p.ctx, ch.CID, data); perr != nil {
			if p.ctx.Err() == nil {
				p.cfg.log.Warn("cache put failed", "chunk", ch.CID, "err", perr)
			}
			return
		}
		p.run.post(func() { p.provide(ts) })
	})
}

// answered takes the answer to request a on the loop: n bytes of ciphertext
// decrypted to plain, or err.
func (p *player) answered(a sched.Request, ts *trackState, src ChunkSource, m *measure, start time.Time, busy, cancelled bool, n int, plain []byte, err error) {
	m.inflight--
	if _, live := p.reqs[a.ID]; !live || cancelled {
		// Cancelled by the scheduler: it has forgotten the request.
		delete(p.reqs, a.ID)
		return
	}
	delete(p.reqs, a.ID)
	now := p.now()
	if err != nil {
		p.failed(a, ts, src, err, now)
		return
	}
	p.observe(a.Source, a.Kind, m, start, now, busy, n)
	if len(p.originTold) > 0 {
		delete(p.originTold, a.Source)
	}
	ts.failures.arrived()
	if ts.pb != nil {
		ts.pb.put(a.Chunk, plain)
	} else if ts.chunks != nil {
		ts.chunks[a.Chunk] = plain
	}
	p.step(sched.ChunkArrived{At: now, Req: a.ID, Bytes: n})
}

// failReason is what the scheduler makes of a failed fetch: the source's
// own classification (FetchError) when it gave one, else what the error
// says of itself.
func failReason(err error) sched.FailReason {
	var fe *FetchError
	switch {
	case errors.As(err, &fe):
		return fe.Reason
	case errors.Is(err, catalog.ErrChunkMismatch), errors.Is(err, ErrCorruptChunk):
		return sched.FailCorrupt
	case errors.Is(err, ErrNotFound):
		return sched.FailDontHave
	case errors.Is(err, context.DeadlineExceeded):
		return sched.FailTimeout
	}
	return sched.FailGone
}

// failed reports a failed request to the scheduler with its reason, and
// bans a source that sent corrupt data or cannot be admitted.
func (p *player) failed(a sched.Request, ts *trackState, src ChunkSource, err error, now time.Time) {
	reason := failReason(err)
	ts.failures.note(err, reason)
	rejected := errors.Is(err, catalog.ErrChunkMismatch) || errors.Is(err, ErrCorruptChunk)
	if reason == sched.FailCorrupt && ts.pb != nil {
		ts.pb.ban(src.Name(), rejected)
	}
	if rejected {
		attrs := []any{"source", src.Name(), "track", ts.id, "chunk", a.Chunk, "err", err}
		if ps, ok := src.(*PeerSource); ok {
			attrs = append(attrs, "peer", ps.id)
		}
		p.cfg.log.Warn("corrupt chunk: source banned for the play, fetching it elsewhere", attrs...)
	} else {
		p.cfg.log.Debug("chunk request failed", "source", src.Name(), "chunk", a.Chunk, "reason", reason.String(), "err", err)
	}
	// An origin that will not verify or answer is told at once, with what
	// to do: a play may still go on from peers, and give up only later.
	if untrusted, down := errors.Is(err, ErrUntrustedOrigin), errors.Is(err, ErrOriginUnreachable); (untrusted || down) && !p.originTold[a.Source] {
		p.originTold[a.Source] = true
		msg := "origin unreachable: plays go on from peers alone until it answers"
		if untrusted {
			msg = "origin certificate not trusted: plays go on from peers alone"
		}
		p.cfg.log.Warn(msg, "origin", src.Name(), "track", ts.id, "err", err)
	}
	// The scheduler gives up on a play that cannot progress on its own
	// timer (GiveUpAfter, GaveUp).
	p.step(sched.RequestFailed{At: now, Req: a.ID, Reason: reason})
}

func (p *player) measureOf(id sched.SourceID) *measure {
	m := p.measured[id]
	if m == nil {
		m = &measure{}
		p.measured[id] = m
	}
	return m
}

// observe folds an answer into the source's measurements and tells the
// scheduler. The latency of a request that waited for no other is about one
// RTT plus its transfer; a moving minimum with slow decay tracks the RTT
// without chasing queueing spikes. The transfer time is the latency less
// the RTT, or, for a request queued behind another, the gap since the
// previous answer.
func (p *player) observe(id sched.SourceID, kind sched.SourceKind, m *measure, start, now time.Time, queued bool, n int) {
	if id == sched.CacheSource {
		return
	}
	d := now.Sub(start)
	switch {
	case m.rtt == 0 || d < m.rtt:
		m.rtt = d
	case !queued:
		m.rtt += (d - m.rtt) / 16
	}
	transfer := d - m.rtt
	if queued && !m.lastArrival.IsZero() && m.lastArrival.After(start) {
		transfer = now.Sub(m.lastArrival)
	}
	m.lastArrival = now
	transfer = max(transfer, 100*time.Microsecond)
	bps := float64(n) / transfer.Seconds()
	if m.bps == 0 {
		m.bps = bps
	} else {
		m.bps += (bps - m.bps) / 8
	}
	p.step(sched.SourceUpdate{At: now, Source: sched.SourceInfo{ID: id, Kind: kind, Connected: true, RTT: m.rtt, BytesPerSecond: int64(m.bps)}})
}

// findPeersOnLoop looks up a track's holders in the DHT, off the loop.
func (p *player) findPeersOnLoop(track string) {
	sw := p.src.swarm
	c, err := cid.Decode(track)
	if sw == nil || err != nil {
		// No swarm (or no CID to look up): nobody holds it, said at once,
		// so the scheduler does not hold chunks back for an answer.
		p.later(sched.PeersFound{At: p.now(), Track: track})
		return
	}
	p.run.spawn(func() {
		provs, err := sw.FindProviders(p.ctx, c, p.cfg.maxProv)
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			// An empty answer: the scheduler looks again later.
			p.cfg.log.Debug("provider lookup failed", "track", track, "err", err)
			provs = nil
		}
		connected := map[peer.ID]bool{}
		for _, id := range sw.ConnectedPeers() {
			connected[id] = true
		}
		latency := map[peer.ID]time.Duration{}
		for _, ai := range provs {
			latency[ai.ID] = sw.Latency(ai.ID)
		}
		p.run.post(func() {
			var infos []sched.SourceInfo
			for _, ai := range provs {
				src := NewPeerSource(sw, ai.ID)
				id := sched.SourceID(src.Name())
				if _, ok := p.sources[id]; !ok {
					p.sources[id] = src
				}
				p.addrs[id] = ai
				info := sched.SourceInfo{ID: id, Kind: sched.KindPeer, Connected: connected[ai.ID], RTT: latency[ai.ID]}
				if m := p.measured[id]; m != nil && m.rtt > 0 {
					info.RTT, info.BytesPerSecond = m.rtt, int64(m.bps)
				}
				infos = append(infos, info)
			}
			p.step(sched.PeersFound{At: p.now(), Track: track, Sources: infos})
		})
	})
}

// warm connects to a likely peer, off the loop.
func (p *player) warm(id sched.SourceID) {
	ai, ok := p.addrs[id]
	sw := p.src.swarm
	if !ok || sw == nil {
		return
	}
	p.run.spawn(func() {
		err := sw.Connect(p.ctx, ai)
		p.run.post(func() {
			info := sched.SourceInfo{ID: id, Kind: sched.KindPeer, Connected: err == nil}
			if m := p.measured[id]; m != nil {
				info.RTT, info.BytesPerSecond = m.rtt, int64(m.bps)
			}
			p.step(sched.SourceUpdate{At: p.now(), Source: info})
		})
	})
}

// provide announces a track once this node holds some of it.
func (p *player) provide(ts *trackState) {
	sw := p.src.swarm
	if ts.provided || sw == nil || p.src.cache == nil {
		return
	}
	ts.provided = true
	p.run.spawn(func() {
		if err := sw.Provide(p.ctx, ts.cid); err != nil && p.ctx.Err() == nil {
			p.cfg.log.Debug("provide failed", "track", ts.id, "err", err)
		}
	})
}
