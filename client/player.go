package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/node"
)

// player runs the deadline scheduler (client/sched) on real sources and the
// client's clock. One goroutine, the loop, owns the scheduler and every
// field below the mailbox; everything else posts closures to it with do.
// Fetches, lookups and connects run in goroutines of their own and post
// their results back as scheduler events.
type player struct {
	c     *Client
	ctx   context.Context
	stop  context.CancelFunc
	done  chan struct{}
	sched *sched.Scheduler

	mu     sync.Mutex // guards queue and closed
	queue  []func()
	wake   chan struct{}
	closed bool

	// Owned by the loop.
	sources  map[sched.SourceID]ChunkSource
	addrs    map[sched.SourceID]peer.AddrInfo
	measured map[sched.SourceID]*measure
	reqs     map[sched.ReqID]context.CancelFunc
	timers   map[sched.TimerID]clock.Timer
	tracks   map[string]*trackState
	cur      *trackState
	out      []sched.Action
}

// trackState is what the player knows of a track it plays or prefetches.
type trackState struct {
	id       string
	cid      cid.Cid
	m        *catalog.Manifest
	key      catalog.TrackKey
	pb       *Playback      // nil while only prefetched
	progress time.Time      // when a chunk of it last arrived, or its play began
	chunks   [][]byte       // decrypted chunks that arrived, for a prefetched track
	kinds    []SourceKind   // where each prefetched chunk came from
	reasons  map[string]int // origin requests made while prefetching, by reason
	provided bool
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

func newPlayer(c *Client) (*player, error) {
	s, err := sched.New(c.schedCfg)
	if err != nil {
		return nil, fmt.Errorf("client: scheduler: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &player{
		c:        c,
		ctx:      ctx,
		stop:     stop,
		done:     make(chan struct{}),
		sched:    s,
		wake:     make(chan struct{}, 1),
		sources:  map[sched.SourceID]ChunkSource{},
		addrs:    map[sched.SourceID]peer.AddrInfo{},
		measured: map[sched.SourceID]*measure{},
		reqs:     map[sched.ReqID]context.CancelFunc{},
		timers:   map[sched.TimerID]clock.Timer{},
		tracks:   map[string]*trackState{},
	}
	go p.loop()
	return p, nil
}

// do runs f on the loop goroutine. It reports false once the player is
// closed.
func (p *player) do(f func()) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.queue = append(p.queue, f)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// call runs f on the loop and waits for it.
func (p *player) call(f func()) bool {
	ran := make(chan struct{})
	if !p.do(func() { f(); close(ran) }) {
		return false
	}
	select {
	case <-ran:
		return true
	case <-p.done:
		return false
	}
}

func (p *player) loop() {
	defer close(p.done)
	for {
		select {
		case <-p.wake:
		case <-p.ctx.Done():
			p.shutdown()
			return
		}
		p.mu.Lock()
		q := p.queue
		p.queue = nil
		p.mu.Unlock()
		for _, f := range q {
			f()
		}
	}
}

// shutdown cancels everything in flight; it runs on the loop.
func (p *player) shutdown() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for _, cancel := range p.reqs {
		cancel()
	}
	for _, t := range p.timers {
		t.Stop()
	}
	if p.cur != nil && p.cur.pb != nil {
		p.cur.pb.fail(ErrClosed)
	}
}

func (p *player) close() {
	p.stop()
	<-p.done
}

// now is the time stamped on events.
func (p *player) now() time.Time { return p.c.clock.Now() }

// later feeds an event to the scheduler after the current step's actions:
// an action never steps the scheduler from inside a step.
func (p *player) later(ev sched.Event) {
	p.do(func() { p.step(ev) })
}

// step feeds one event to the scheduler and carries out its actions. It
// must not be called from inside an action (use later).
func (p *player) step(ev sched.Event) {
	out, err := p.sched.Step(ev, p.out[:0])
	p.out = out[:0]
	if err != nil {
		p.c.log.Error("scheduler refused an event", "event", fmt.Sprintf("%T", ev), "err", err)
		if p.cur != nil && p.cur.pb != nil {
			p.cur.pb.fail(err)
		}
		return
	}
	for _, a := range out {
		p.act(a)
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
		id := a.Timer
		if old, ok := p.timers[id]; ok {
			old.Stop()
		}
		p.timers[id] = p.c.clock.AfterFunc(a.At.Sub(p.now()), func() {
			p.do(func() {
				delete(p.timers, id)
				p.step(sched.TimerFired{At: p.now(), Timer: id})
			})
		})
	case sched.FindPeers:
		p.findPeers(a.Track)
	case sched.Warm:
		p.warm(a.Source)
	case sched.Finished:
		if ts := p.tracks[a.Track]; ts != nil && ts.pb != nil {
			ts.pb.finish(a.Stats)
		}
	}
}

// addOrigins registers the client's origins with the scheduler.
func (p *player) addOrigins() {
	for _, o := range p.c.origins {
		id := sched.SourceID("origin " + o.Name())
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
		info.Cached[i] = (p.c.cache != nil && p.c.cache.Has(ch.CID)) || (ts.chunks != nil && ts.chunks[i] != nil)
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

// play starts pb's track; it runs on the loop.
func (p *player) play(pb *Playback, ts *trackState, offset int64) {
	p.addOrigins()
	if old := p.cur; old != nil && old.pb != nil && old != ts {
		old.pb.fail(ErrClosed)
		old.pb = nil
	}
	ts.pb = pb
	ts.progress = pb.start
	p.tracks[ts.id] = ts
	p.cur = ts
	// Hand over what a prefetch already brought, counted by where it came
	// from.
	for i, c := range ts.chunks {
		if c != nil && pb.put(i, c, ts.kinds[i]) {
			pb.countBytes(ts.kinds[i], ts.m.Chunks[i].Size)
		}
	}
	for reason, n := range ts.reasons {
		for range n {
			pb.noteOrigin(reason)
		}
	}
	ts.chunks, ts.kinds, ts.reasons = nil, nil, nil
	p.step(sched.Play{At: pb.start, Track: p.trackInfo(ts), StartOffset: offset})
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
		if p.c.cache == nil {
			p.later(sched.RequestFailed{At: p.now(), Req: a.ID, Reason: sched.FailDontHave})
			return
		}
		src = CacheSource{p.c.cache}
	} else if src = p.sources[a.Source]; src == nil {
		p.later(sched.RequestFailed{At: p.now(), Req: a.ID, Reason: sched.FailGone})
		return
	}
	if a.Kind == sched.KindOrigin {
		if ts.pb != nil {
			ts.pb.noteOrigin(a.Reason.String())
		} else {
			if ts.reasons == nil {
				ts.reasons = map[string]int{}
			}
			ts.reasons[a.Reason.String()]++
		}
	}
	ctx, cancel := context.WithTimeout(p.ctx, requestTimeout)
	p.reqs[a.ID] = cancel
	start := p.now()
	m := p.measureOf(a.Source)
	m.inflight++
	busy := m.inflight > 1 // queued behind another request: service time is the gap between answers
	ch := ts.m.Chunks[a.Chunk]
	go func() {
		data, err := src.Fetch(ctx, ch.CID)
		var plain []byte
		if err == nil {
			plain, err = catalog.DecryptChunk(ts.m, ts.key, a.Chunk, data)
		}
		cancelled := ctx.Err() != nil && p.ctx.Err() == nil && !errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		p.do(func() {
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
			p.observe(a.Source, a.Kind, m, start, now, busy, len(data))
			ts.progress = now
			if ts.pb != nil {
				if ts.pb.put(a.Chunk, plain, src.Kind()) {
					ts.pb.countBytes(src.Kind(), len(data))
				}
			} else if ts.chunks != nil {
				ts.chunks[a.Chunk] = plain
				ts.kinds[a.Chunk] = src.Kind()
			}
			p.step(sched.ChunkArrived{At: now, Req: a.ID, Bytes: len(data)})
		})
		// Cache the ciphertext after the chunk went to the player, off the
		// start's critical path; once the node holds part of the track it
		// announces it.
		if err != nil || src.Kind() == KindCache || p.c.cache == nil {
			return
		}
		if perr := p.c.cache.Put(p.ctx, ch.CID, data); perr != nil {
			if p.ctx.Err() == nil {
				p.c.log.Warn("cache put failed", "chunk", ch.CID, "err", perr)
			}
			return
		}
		p.do(func() { p.provide(ts) })
	}()
}

// failed reports a failed request to the scheduler with its reason.
func (p *player) failed(a sched.Request, ts *trackState, src ChunkSource, err error, now time.Time) {
	reason := sched.FailGone
	switch {
	case errors.Is(err, catalog.ErrChunkMismatch), errors.Is(err, node.ErrCorruptChunk):
		reason = sched.FailCorrupt
		if ts.pb != nil {
			ts.pb.ban(src, true)
		}
	case errors.Is(err, node.ErrDontHave), errors.Is(err, ErrNotFound):
		reason = sched.FailDontHave
	case errors.Is(err, node.ErrBusy):
		reason = sched.FailBusy
	case errors.Is(err, context.DeadlineExceeded):
		reason = sched.FailTimeout
	case errors.Is(err, node.ErrNotAdmitted):
		reason = sched.FailCorrupt // never ask a peer we cannot admit again
		if ts.pb != nil {
			ts.pb.ban(src, false)
		}
	}
	if ts.pb != nil {
		ts.pb.noteError()
	}
	p.c.log.Debug("chunk request failed", "source", src.Name(), "chunk", a.Chunk, "reason", reason.String(), "err", err)
	p.step(sched.RequestFailed{At: now, Req: a.ID, Reason: reason})
	if ts.pb != nil && ts == p.cur && !ts.pb.Done() && now.Sub(ts.progress) > p.c.giveUp {
		// Nothing has arrived for too long and requests keep failing:
		// tell the reader instead of waiting forever.
		ts.pb.fail(fmt.Errorf("client: play %s: %w for %v; last error: %w", ts.id, ErrNoSource, p.c.giveUp, err))
		p.step(sched.Stop{At: now})
		ts.pb = nil
		p.cur = nil
	}
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
	p.step(sched.SourceUpdate{At: p.now(), Source: sched.SourceInfo{ID: id, Kind: kind, Connected: true, RTT: m.rtt, BytesPerSecond: int64(m.bps)}})
}

// findPeers looks up a track's holders in the DHT, off the loop.
func (p *player) findPeers(track string) {
	if p.c.swarm == nil {
		return
	}
	c, err := cid.Decode(track)
	if err != nil {
		return
	}
	go func() {
		provs, err := p.c.swarm.FindProviders(p.ctx, c, p.c.maxProv)
		if err != nil {
			if p.ctx.Err() == nil {
				p.c.log.Debug("provider lookup failed", "track", track, "err", err)
			}
			return
		}
		connected := map[peer.ID]bool{}
		for _, id := range p.c.swarm.ConnectedPeers() {
			connected[id] = true
		}
		latency := map[peer.ID]time.Duration{}
		for _, ai := range provs {
			latency[ai.ID] = p.c.swarm.Latency(ai.ID)
		}
		p.do(func() {
			var infos []sched.SourceInfo
			for _, ai := range provs {
				id := sched.SourceID("peer " + ai.ID.String())
				if _, ok := p.sources[id]; !ok {
					p.sources[id] = NewPeerSource(p.c.swarm, ai.ID)
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
	}()
}

// warm connects to a likely peer, off the loop.
func (p *player) warm(id sched.SourceID) {
	ai, ok := p.addrs[id]
	if !ok || p.c.swarm == nil {
		return
	}
	go func() {
		err := p.c.swarm.Connect(p.ctx, ai)
		p.do(func() {
			info := sched.SourceInfo{ID: id, Kind: sched.KindPeer, Connected: err == nil}
			if m := p.measured[id]; m != nil {
				info.RTT, info.BytesPerSecond = m.rtt, int64(m.bps)
			}
			p.step(sched.SourceUpdate{At: p.now(), Source: info})
		})
	}()
}

// provide announces a track once this node holds some of it.
func (p *player) provide(ts *trackState) {
	if ts.provided || p.c.swarm == nil || p.c.cache == nil {
		return
	}
	ts.provided = true
	go func() {
		if err := p.c.swarm.Provide(p.ctx, ts.cid); err != nil && p.ctx.Err() == nil {
			p.c.log.Debug("provide failed", "track", ts.id, "err", err)
		}
	}()
}
