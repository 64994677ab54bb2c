package sched

import "time"

// usable reports whether src may be asked at all right now (not banned for
// this play, not backed off). Slots are checked separately.
func (s *Scheduler) usable(src *source) bool {
	if src.bannedPlay != 0 && src.bannedPlay == s.playSeq {
		return false
	}
	if s.now.Before(src.backoffUntil) {
		s.note(src.backoffUntil)
		return false
	}
	return true
}

// hasSlot reports whether src can take one more request of size bytes:
// an origin up to Config.MaxOutstandingPerOrigin requests (an unmeasured
// one, what fits in Config.InitialWindow); a peer up to
// Config.MaxOutstandingPerSource requests and the bytes of its window (at
// least one request). A fresh connection's window is Config.InitialWindow:
// the first flight carries as many of the first chunks as the new
// connection's congestion window lets through, and no more, so the most
// urgent one is not slowed by a queue the path cannot carry yet.
func (s *Scheduler) hasSlot(src *source, size int) bool {
	if src.info.Kind == KindOrigin {
		// An origin that has not delivered yet takes its first flight's
		// worth too, then up to its cap.
		unmeasured := src.info.RTT <= 0 || src.info.BytesPerSecond <= 0
		if unmeasured && src.outstanding > 0 && src.queued+int64(size) > int64(s.cfg.InitialWindow) {
			return false
		}
		return src.outstanding < s.cfg.MaxOutstandingPerOrigin
	}
	if src.outstanding >= s.cfg.MaxOutstandingPerSource {
		return false
	}
	return src.outstanding == 0 || src.queued+int64(size) <= s.windowOf(src)
}

// windowOf returns src's window in bytes: as grown, or for a peer not
// asked yet, Config.InitialWindow, or the window its measurements call for
// (see grow) if larger.
func (s *Scheduler) windowOf(src *source) int64 {
	if src.window > 0 {
		return src.window
	}
	w := int64(s.cfg.InitialWindow)
	if src.info.BytesPerSecond > 0 && src.info.RTT > 0 {
		w = max(w, s.bdpLimit(src, catalogChunk))
	}
	return w
}

// bdpLimit is the largest window grow opens for src: twice the measured
// bandwidth-delay product, plus one chunk of n bytes.
func (s *Scheduler) bdpLimit(src *source, n int) int64 {
	rtt := src.info.RTT
	if rtt <= 0 {
		rtt = s.cfg.DefaultRTT
	}
	bps := src.info.BytesPerSecond
	if bps <= 0 {
		bps = s.cfg.DefaultBytesPerSecond
	}
	return 2*int64(float64(bps)*rtt.Seconds()) + int64(n)
}

// grow opens a peer's window after it delivered n bytes. The window
// follows the path's bandwidth-delay product: while it is below twice the
// product of the measured throughput and RTT (plus one chunk), each
// delivery adds twice its bytes, tripling the window every round trip
// (ahead of the transport's slow start), or, past the threshold a failure left, one chunk a round
// trip; at the limit it stops, so the queue at the peer stays within about
// one round trip of data. A window-limited path measures its throughput at
// the window's rate, so the window grows until the link, not the window,
// sets the rate.
func (s *Scheduler) grow(src *source, n int) {
	if src.info.Kind != KindPeer {
		return
	}
	w := s.windowOf(src)
	if limit := s.bdpLimit(src, n); w < limit {
		// Twice the delivered bytes: the window keeps ahead of the
		// connection's own slow start, which grows only while the
		// sender has more to send than its congestion window.
		step := 2 * int64(n)
		if src.thresh > 0 && w >= src.thresh {
			step = max(int64(n)*int64(n)/w, 1)
		}
		w = min(w+step, limit)
	}
	src.window = max(w, int64(s.cfg.InitialWindow))
}

// shrink halves a peer's window after a failure (refused for load, timed
// out, connection lost): loss, or a queue the peer cannot carry. The
// window then grows back by one chunk a round trip.
func (s *Scheduler) shrink(src *source) {
	if src.info.Kind != KindPeer {
		return
	}
	src.window = max(s.windowOf(src)/2, int64(s.cfg.InitialWindow))
	src.thresh = src.window
}

// eta returns when a chunk of size bytes asked from src now is expected:
// RTT + (queued bytes + size)/throughput, plus one RTT to connect to a
// source not connected yet.
func (s *Scheduler) eta(src *source, size int) time.Time {
	return s.now.Add(s.etaDur(src, size))
}

func (s *Scheduler) etaDur(src *source, size int) time.Duration {
	if src.info.Kind == KindCache {
		return s.cfg.CacheLatency
	}
	rtt := src.info.RTT
	if rtt <= 0 {
		rtt = s.cfg.DefaultRTT
	}
	bps := src.info.BytesPerSecond
	if bps <= 0 {
		bps = s.cfg.DefaultBytesPerSecond
	}
	d := rtt + time.Duration(float64(src.queued+int64(size))/float64(bps)*1e9)
	if !src.info.Connected {
		d += rtt
	}
	return d + src.lag
}

// usableHolders returns the usable peers holding p's track, in s.scratch.
func (s *Scheduler) usableHolders(p *play) []*source { return s.usableHoldersOf(p.track.ID) }

// busyHolderBack returns the earliest time a holder of track that is left
// alone only for having answered Busy may be asked again.
func (s *Scheduler) busyHolderBack(track string) (time.Time, bool) {
	var back time.Time
	for _, h := range s.holders[track] {
		if h.info.Kind != KindPeer || (h.bannedPlay != 0 && h.bannedPlay == s.playSeq) ||
			!s.now.Before(h.busyUntil) || !h.busyUntil.Equal(h.backoffUntil) {
			continue
		}
		if back.IsZero() || h.busyUntil.Before(back) {
			back = h.busyUntil
		}
	}
	return back, !back.IsZero()
}

// usableHoldersOf returns the usable peers holding a track, in s.scratch.
func (s *Scheduler) usableHoldersOf(track string) []*source {
	s.scratch = s.scratch[:0]
	for _, h := range s.holders[track] {
		if h.info.Kind == KindPeer && s.usable(h) {
			s.scratch = append(s.scratch, h)
		}
	}
	return s.scratch
}

// bestPeer returns the peer in peers with the earliest expected arrival of
// chunk i of p, considering only peers with a free slot if free, only
// connected peers if connected, and not peers that recently lacked the
// chunk. It returns nil if there is none.
func (s *Scheduler) bestPeer(peers []*source, p *play, i int, free, connected bool) (*source, time.Duration) {
	return s.bestPeerExcept(peers, p, i, free, connected, nil)
}

// bestPeerExcept is bestPeer without except.
func (s *Scheduler) bestPeerExcept(peers []*source, p *play, i int, free, connected bool, except *source) (*source, time.Duration) {
	var best *source
	var bestD time.Duration
	size := p.track.ChunkSizes[i]
	for _, h := range peers {
		if h == except || (free && !s.hasSlot(h, size)) || (connected && !h.info.Connected) || s.lacks(h, p, i) {
			continue
		}
		if d := s.etaDur(h, size); best == nil || d < bestD {
			best, bestD = h, d
		}
	}
	return best, bestD
}

// lacks reports whether peer h answered DontHave for a chunk of p at or
// before i less than Config.BusyBackoff ago (a peer still downloading the
// track has its beginning but not yet its end).
func (s *Scheduler) lacks(h *source, p *play, i int) bool {
	if h.lackTrack != p.track.ID || i < h.lackFrom {
		return false
	}
	if !s.now.Before(h.lackRetry) {
		return false
	}
	s.note(h.lackRetry)
	return true
}

// bestOrigin is bestPeer over the origins (usable ones only).
func (s *Scheduler) bestOrigin(size int, free bool) (*source, time.Duration) {
	return s.bestOriginExcept(size, free, nil)
}

func (s *Scheduler) bestOriginExcept(size int, free bool, except *source) (*source, time.Duration) {
	var best *source
	var bestD time.Duration
	for _, o := range s.origins {
		if o == except || !s.usable(o) || (free && !s.hasSlot(o, size)) {
			continue
		}
		if d := s.etaDur(o, size); best == nil || d < bestD {
			best, bestD = o, d
		}
	}
	return best, bestD
}

// note asks for a wake-up at t if t is in the future and earlier than any
// wake-up noted so far in this step.
func (s *Scheduler) note(t time.Time) {
	if t.After(s.now) && (s.wake.IsZero() || t.Before(s.wake)) {
		s.wake = t
	}
}

// schedule decides the requests for the current and the next track, and
// arms the timer for the next decision.
func (s *Scheduler) schedule(out []Action) []Action {
	s.wake = time.Time{}
	out = s.giveUp(out)
	if p := s.cur; p != nil && !p.stopped && !p.ended {
		out = s.scheduleCurrent(p, out)
	}
	if s.next != nil && s.cur != nil && !s.cur.stopped {
		out = s.schedulePrefetch(s.next, out)
	}
	out = s.retryLookups(out)
	if s.wake.IsZero() || (s.armedID != 0 && !s.wake.Before(s.armedAt)) {
		return out
	}
	s.lastTimer++
	s.armedID, s.armedAt = s.lastTimer, s.wake
	return append(out, ArmTimer{Timer: s.armedID, At: s.wake})
}

// scheduleCurrent walks the current track's window from the first missing
// chunk, most urgent first.
func (s *Scheduler) scheduleCurrent(p *play, out []Action) []Action {
	now, st, margin := s.now, s.cfg.StartTarget, s.cfg.HedgeMargin
	p.skipArrived()
	n := p.n()
	if p.contig >= n {
		if p.ph.started && !p.ph.stalled && !p.ph.paused {
			s.note(p.ph.TimeAt(p.length(), now, st)) // Finished
		}
		return out
	}
	peers := s.usableHolders(p)
	waiting := !p.ph.started
	lowAhead := s.wall(s.cfg.LowBuffer)
	var lowBuf bool
	if !waiting {
		dl := p.ph.TimeAt(p.offsets[p.contig], now, st)
		lowBuf = dl.Sub(now) < lowAhead
		if !lowBuf {
			s.note(dl.Add(-lowAhead))
		} else if !p.ph.stalled {
			s.note(dl) // the stall, if it comes
		}
	}
	peerLimit := p.ph.Position(now) + s.audioBytes(p, s.cfg.BufferAhead)
	originHorizon := now.Add(s.wall(s.cfg.MaxOriginAhead))
	idleDone, notedLate := false, false
	for i := p.contig; i < n; i++ {
		if p.offsets[i] > peerLimit && (i > p.contig || !waiting) {
			// Beyond the buffer (BufferAhead), even the first missing
			// chunk: wake when the playhead brings it in.
			s.note(p.ph.TimeAt(p.offsets[i]-s.audioBytes(p, s.cfg.BufferAhead), now, st))
			break
		}
		c := &p.chunks[i]
		if c.arrived {
			continue
		}
		size := p.track.ChunkSizes[i]
		dl := p.ph.TimeAt(p.offsets[i], now, st)
		first := waiting && i == p.start
		if c.idle() {
			switch {
			case p.track.Cached != nil && p.track.Cached[i]:
				out = s.send(p, i, s.sources[CacheSource], ReasonCache, out)
				continue
			case first:
				out = s.sendFirst(p, i, peers, out)
			case !idleDone:
				var done bool
				out, done = s.sendIdle(p, i, peers, dl, originHorizon, lowBuf, out)
				idleDone = done
			}
		}
		// Hedge a peer request that would miss its deadline.
		if c.primary == 0 || c.origin != 0 {
			continue
		}
		r := s.reqs[c.primary]
		if r == nil || r.src.info.Kind != KindPeer {
			continue
		}
		late := r.expected.Add(margin)
		if c.alt == 0 && !first && len(peers) > 1 {
			// As Spotify: a request too slow from a peer is re-sent to
			// another peer (and to an origin when it becomes urgent).
			if now.After(late) {
				if ap, ad := s.bestPeerExcept(peers, p, i, true, false, r.src); ap != nil && !now.Add(ad+margin).After(dl) {
					out = s.send(p, i, ap, ReasonResend, out)
				}
			} else if !notedLate {
				notedLate = true // the most urgent one is enough
				s.note(late.Add(time.Nanosecond))
			}
		}
		o, od := s.bestOrigin(size, true)
		if o == nil {
			continue
		}
		reason := ReasonAtRisk
		if first {
			reason = ReasonRace
		}
		hedgeAt := dl.Add(-margin - od)
		switch {
		case !waiting && dl.Sub(now) < lowAhead && now.After(late):
			out = s.send(p, i, o, ReasonLowBuffer, out)
		case !now.Before(hedgeAt):
			out = s.send(p, i, o, reason, out)
		default:
			s.note(hedgeAt)
			if !waiting {
				// The low-buffer rule may apply before the hedge: wake
				// when the request is overdue and the buffer runs low.
				t := dl.Add(-lowAhead)
				if !t.After(late) {
					t = late.Add(time.Nanosecond)
				}
				if t.Before(hedgeAt) {
					s.note(t)
				}
			}
		}
	}
	return out
}

// sendFirst fetches the chunk under a new Play or Seek position: the best
// connected peer raced against an origin (Config.FirstChunk), never waiting
// for a lookup.
func (s *Scheduler) sendFirst(p *play, i int, peers []*source, out []Action) []Action {
	size := p.track.ChunkSizes[i]
	o, _ := s.bestOrigin(size, true)
	cp, _ := s.bestPeer(peers, p, i, true, true)
	if cp != nil {
		out = s.send(p, i, cp, ReasonPeer, out)
	}
	switch {
	case o == nil:
		if cp == nil {
			// No origin: the best peer found, connected or not.
			if bp, _ := s.bestPeer(peers, p, i, true, false); bp != nil {
				out = s.send(p, i, bp, ReasonPeer, out)
			}
		}
	case cp == nil || s.cfg.FirstChunk == RaceAlways:
		out = s.send(p, i, o, ReasonRace, out)
	}
	// RaceHedged with a peer: the hedge check in scheduleCurrent brings
	// the origin in at the last moment.
	return out
}

// sendIdle chooses a source for an idle chunk i with deadline dl. It
// reports done when no later chunk can be sent in this step either (no peer
// slot free, and no origin allowed or free).
func (s *Scheduler) sendIdle(p *play, i int, peers []*source, dl, originHorizon time.Time, lowBuf bool, out []Action) ([]Action, bool) {
	now, margin := s.now, s.cfg.HedgeMargin
	size := p.track.ChunkSizes[i]
	bf, bfD := s.bestPeer(peers, p, i, true, false)
	if bf != nil && !now.Add(bfD+margin).After(dl) {
		return s.send(p, i, bf, ReasonPeer, out), false
	}
	if bf == nil {
		// A busy peer that still makes the deadline once its queue
		// drains: wait for it, but not past the moment it stops being
		// feasible.
		if ba, baD := s.bestPeer(peers, p, i, false, false); ba != nil && !now.Add(baD+margin).After(dl) {
			s.note(dl.Add(-margin - baD))
			return out, false
		}
	}
	inHorizon := !dl.After(originHorizon)
	if !inHorizon {
		s.note(dl.Add(-s.wall(s.cfg.MaxOriginAhead)))
	}
	var o *source
	var od time.Duration
	if inHorizon {
		o, od = s.bestOrigin(size, true)
	}
	if lk := s.lookups[p.track.ID]; o != nil && !p.chunks[i].failed && lk != nil && lk.pending(now) {
		// The track's holders are being looked up (a lookup answers in
		// a round trip or two): a chunk that can wait for the answer
		// does, rather than go to the origin now; the wait ends
		// LookupWait after the lookup went out, answered or not.
		if until := lk.sentAt.Add(s.cfg.LookupWait); now.Before(until) && dl.Add(-margin-od).After(until) {
			s.note(until)
			return out, false
		}
	}
	if back, ok := s.busyHolderBack(p.track.ID); o != nil && ok &&
		dl.Add(-margin-od).After(back.Add(s.cfg.LookupWait)) {
		// Every holder known is loaded, and one that refused for being
		// busy is asked again soon (BusyBackoff): a chunk whose deadline
		// leaves room (the refused one too) waits for it rather than go
		// to the origin now.
		s.note(back)
		return out, false
	}
	if o != nil {
		var reason Reason
		switch {
		case p.chunks[i].failed:
			reason = ReasonPeerFailed
		case len(peers) == 0:
			reason = ReasonNoPeer
		case lowBuf:
			reason = ReasonLowBuffer
		default:
			reason = ReasonAtRisk
		}
		return s.send(p, i, o, reason, out), false
	}
	if bf != nil {
		// Late is better than never: the hedge covers it.
		return s.send(p, i, bf, ReasonPeer, out), false
	}
	return out, true
}

// schedulePrefetch fetches the first Config.PrefetchAhead of the next track:
// from peers from PrefetchPeersAt before the current track ends, from an
// origin from PrefetchOriginAt if no peer delivers.
func (s *Scheduler) schedulePrefetch(q *play, out []Action) []Action {
	now, cur := s.now, s.cur
	tEnd := now
	if !cur.ended {
		tEnd = cur.ph.TimeAt(cur.length(), now, s.cfg.StartTarget)
	}
	left := tEnd.Sub(now)
	if left > s.wall(s.cfg.PrefetchPeersAt) {
		s.note(tEnd.Add(-s.wall(s.cfg.PrefetchPeersAt)))
		return out
	}
	peers := s.usableHolders(q)
	if !q.prefetchPeers {
		q.prefetchPeers = true
		if lk := s.lookups[q.track.ID]; len(peers) == 0 && (lk == nil || !lk.pending(now)) {
			out = s.findPeers(q.track.ID, out)
		}
		out = s.warm(q, out)
	}
	originPhase := left <= s.wall(s.cfg.PrefetchOriginAt)
	if !originPhase {
		s.note(tEnd.Add(-s.wall(s.cfg.PrefetchOriginAt)))
	}
	limit := s.audioBytes(q, s.cfg.PrefetchAhead)
	for i := 0; i < q.n() && (i == 0 || q.offsets[i] < limit); i++ {
		c := &q.chunks[i]
		if c.arrived || (q.track.Cached != nil && q.track.Cached[i]) {
			continue // the cache serves it when the track plays
		}
		size := q.track.ChunkSizes[i]
		if c.idle() {
			if bf, _ := s.bestPeer(peers, q, i, true, false); bf != nil {
				out = s.send(q, i, bf, ReasonPrefetch, out)
			} else if originPhase {
				if o, _ := s.bestOrigin(size, true); o != nil {
					out = s.send(q, i, o, ReasonPrefetch, out)
				}
			}
		}
		if c.primary == 0 || c.origin != 0 || !originPhase {
			continue
		}
		o, od := s.bestOrigin(size, true)
		if o == nil {
			continue
		}
		dl := tEnd.Add(q.ph.durFor(q.offsets[i]))
		if hedgeAt := dl.Add(-s.cfg.HedgeMargin - od); !now.Before(hedgeAt) {
			out = s.send(q, i, o, ReasonPrefetch, out)
		} else {
			s.note(hedgeAt)
		}
	}
	return out
}

// deadline returns when the playhead reaches chunk i of p: for the next
// track, counted from when the current one ends.
func (s *Scheduler) deadline(p *play, i int) time.Time {
	if p == s.cur {
		return p.ph.TimeAt(p.offsets[i], s.now, s.cfg.StartTarget)
	}
	tEnd := s.now
	if c := s.cur; c != nil && !c.ended && !c.stopped {
		tEnd = c.ph.TimeAt(c.length(), s.now, s.cfg.StartTarget)
	}
	return tEnd.Add(p.ph.durFor(p.offsets[i]))
}
