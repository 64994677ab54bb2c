package schedtest

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/chorus-music/chorus/client/sched"
)

// Source is a modelled peer or origin.
type Source struct {
	// Info is what the schedulers are told (SourceUpdate): its kind and
	// the measured RTT and throughput they believe. Info.Connected is the
	// initial connection state for every client.
	Info sched.SourceInfo
	// Client, if not zero, says the source is client Client-1 itself (a
	// peer of the others): its own FindPeers never returns it.
	Client int
	// BytesPerSecond is how fast the source really serves; zero means
	// Info.BytesPerSecond. RTT is the real round trip; zero means
	// Info.RTT.
	BytesPerSecond int64
	RTT            time.Duration
	// ExtraDelay is added to every answer (a slow disk, an overloaded
	// peer). Delay, if set, adds more to the n-th request (from 0).
	ExtraDelay time.Duration
	Delay      func(req sched.Request, n int) time.Duration
	// Has reports whether the source holds a chunk (nil: everything). A
	// peer without the chunk answers DontHave after one RTT.
	Has func(track string, chunk int) bool
	// Fail, if set, is asked before serving the n-th request (from 0) to
	// this source; a non-zero reason fails it after one RTT.
	Fail func(req sched.Request, n int) sched.FailReason
	// Hidden keeps the peer out of FindPeers answers.
	Hidden bool

	busyUntil time.Time    // uplink busy until (shared by all clients)
	served    int          // requests served so far
	connected map[int]bool // clients connected to it
}

// isConnected reports whether client c is connected to src.
func (src *Source) isConnected(c int) bool { return src.Info.Connected || src.connected[c] }

// Logged is one action with the virtual time it was taken and the client
// that took it.
type Logged struct {
	At     time.Time
	Client int
	Action sched.Action
}

// Delivery is one event delivered to a client's scheduler.
type Delivery struct {
	Client int
	Event  sched.Event
}

// FinishedPlay is a Finished action of one client.
type FinishedPlay struct {
	Client int
	sched.Finished
}

// GaveUpPlay is a GaveUp action of one client.
type GaveUpPlay struct {
	Client int
	sched.GaveUp
}

// Harness runs one or more Schedulers (clients) in virtual time over one
// event queue and one set of sources, so clients contend for the same
// peers' upload capacity.
type Harness struct {
	// S is client 0's scheduler.
	S   *sched.Scheduler
	Now time.Time
	// Log holds every action in order, unless NoLog.
	Log []Logged
	// Delivered holds every event delivered, in order, unless NoLog.
	Delivered []Delivery
	// Finished holds the Finished actions; GaveUp the GaveUp actions.
	Finished []FinishedPlay
	GaveUp   []GaveUpPlay
	// DHTDelay is how long FindPeers takes; zero means 500 ms.
	DHTDelay time.Duration
	// CacheDelay is how long a cache read takes; zero means 1 ms.
	CacheDelay time.Duration
	// CacheMiss, if set, reports chunks the cache no longer holds although
	// TrackInfo.Cached says so (evicted): reading them fails with
	// FailDontHave.
	CacheMiss func(track string, chunk int) bool
	// NoLog turns off Log and Delivered, for long simulations.
	NoLog bool
	// Steps counts the events delivered, by kind of event.
	Steps map[string]int
	// MaxFound caps the peers one FindPeers returns (Spotify's tracker
	// returned 10); zero means 20. A random sample is returned when more
	// qualify, from an RNG seeded with Seed.
	MaxFound int
	Seed     uint64
	rng      *rand.Rand

	clients []*client
	sources map[sched.SourceID]*Source
	order   []sched.SourceID
	q       eventQueue
	seq     int
}

// client is one scheduler and the driver state the harness keeps for it.
type client struct {
	s         *sched.Scheduler
	buf       []sched.Action
	cancelled map[sched.ReqID]bool
	reqs      map[sched.ReqID]chunkKey // requests in flight
	have      map[chunkKey]bool        // chunks delivered to it
}

type chunkKey struct {
	track string
	chunk int
}

// New returns a harness at virtual time start driving s as client 0.
func New(s *sched.Scheduler, start time.Time) *Harness {
	h := &Harness{S: s, Now: start, sources: make(map[sched.SourceID]*Source)}
	h.AddClient(s)
	return h
}

// AddClient adds a client driven by s and returns its number.
func (h *Harness) AddClient(s *sched.Scheduler) int {
	h.clients = append(h.clients, &client{
		s:         s,
		cancelled: make(map[sched.ReqID]bool),
		reqs:      make(map[sched.ReqID]chunkKey),
		have:      make(map[chunkKey]bool),
	})
	return len(h.clients) - 1
}

// Client returns client c's scheduler.
func (h *Harness) Client(c int) *sched.Scheduler { return h.clients[c].s }

// Has reports whether chunk of track was delivered to client c. A
// simulator makes a client a peer of the others with
// Source.Has = func(t string, i int) bool { return h.Has(c, t, i) }.
func (h *Harness) Has(c int, track string, chunk int) bool {
	return h.clients[c].have[chunkKey{track, chunk}]
}

// AddSource adds src, shared by all clients. If announce, every client is
// told about it now (a SourceUpdate); peers not announced are found by
// FindPeers.
func (h *Harness) AddSource(src *Source, announce bool) {
	if src.BytesPerSecond == 0 {
		src.BytesPerSecond = src.Info.BytesPerSecond
	}
	if src.RTT == 0 {
		src.RTT = src.Info.RTT
	}
	src.connected = make(map[int]bool)
	h.sources[src.Info.ID] = src
	h.order = append(h.order, src.Info.ID)
	if announce {
		for c := range h.clients {
			h.PostTo(c, sched.SourceUpdate{At: h.Now, Source: src.Info})
		}
	}
}

// Post queues ev for client 0 at ev.Time() (not before Now).
func (h *Harness) Post(ev sched.Event) { h.PostTo(0, ev) }

// PostTo queues ev for client c at ev.Time() (not before Now).
func (h *Harness) PostTo(c int, ev sched.Event) {
	h.seq++
	heap.Push(&h.q, queued{at: ev.Time(), seq: h.seq, client: c, ev: ev})
}

// RunUntil delivers every queued event up to and including time end, in
// time order, then sets Now to end. It stops at the first scheduler error.
func (h *Harness) RunUntil(end time.Time) error {
	for steps := 0; h.q.Len() > 0; steps++ {
		if steps > 100_000_000 {
			return fmt.Errorf("schedtest: more than 100M events before %v", end)
		}
		if h.q[0].at.After(end) {
			break
		}
		it := heap.Pop(&h.q).(queued)
		if it.at.After(h.Now) {
			h.Now = it.at
		}
		cl := h.clients[it.client]
		switch e := it.ev.(type) {
		case sched.ChunkArrived:
			key, ok := cl.reqs[e.Req]
			delete(cl.reqs, e.Req)
			if cl.cancelled[e.Req] {
				delete(cl.cancelled, e.Req)
				continue
			}
			if ok {
				cl.have[key] = true
			}
		case sched.RequestFailed:
			delete(cl.reqs, e.Req)
			if cl.cancelled[e.Req] {
				delete(cl.cancelled, e.Req)
				continue
			}
		}
		if !h.NoLog {
			h.Delivered = append(h.Delivered, Delivery{Client: it.client, Event: it.ev})
		}
		if h.Steps == nil {
			h.Steps = make(map[string]int)
		}
		h.Steps[eventName(it.ev)]++
		var err error
		cl.buf, err = cl.s.Step(it.ev, cl.buf[:0])
		if err != nil {
			return fmt.Errorf("schedtest: client %d: Step(%T) at %v: %w", it.client, it.ev, h.Now, err)
		}
		for _, a := range cl.buf {
			h.apply(it.client, a)
		}
	}
	if end.After(h.Now) {
		h.Now = end
	}
	return nil
}

// Run runs for d of virtual time from Now.
func (h *Harness) Run(d time.Duration) error { return h.RunUntil(h.Now.Add(d)) }

// Requests returns client 0's logged Requests that match keep (nil: all).
func (h *Harness) Requests(keep func(at time.Time, r sched.Request) bool) []Logged {
	var out []Logged
	for _, l := range h.Log {
		if r, ok := l.Action.(sched.Request); ok && l.Client == 0 && (keep == nil || keep(l.At, r)) {
			out = append(out, l)
		}
	}
	return out
}

// Arrival returns the time client 0's request id was delivered, if it was.
func (h *Harness) Arrival(id sched.ReqID) (time.Time, bool) {
	for _, d := range h.Delivered {
		if a, ok := d.Event.(sched.ChunkArrived); ok && d.Client == 0 && a.Req == id {
			return a.At, true
		}
	}
	return time.Time{}, false
}

// Cancelled reports whether client 0's scheduler cancelled request id.
func (h *Harness) Cancelled(id sched.ReqID) bool {
	for _, l := range h.Log {
		if c, ok := l.Action.(sched.Cancel); ok && l.Client == 0 && c.Req == id {
			return true
		}
	}
	return false
}

func (h *Harness) apply(c int, a sched.Action) {
	if !h.NoLog {
		h.Log = append(h.Log, Logged{At: h.Now, Client: c, Action: a})
	}
	cl := h.clients[c]
	switch a := a.(type) {
	case sched.Request:
		cl.reqs[a.ID] = chunkKey{a.Track, a.Chunk}
		h.serve(c, a)
	case sched.Cancel:
		if _, ok := cl.reqs[a.Req]; ok {
			cl.cancelled[a.Req] = true
		}
	case sched.ArmTimer:
		at := a.At
		if at.Before(h.Now) {
			at = h.Now
		}
		h.PostTo(c, sched.TimerFired{At: at, Timer: a.Timer})
	case sched.FindPeers:
		d := h.DHTDelay
		if d == 0 {
			d = 500 * time.Millisecond
		}
		var found []sched.SourceInfo
		max := h.MaxFound
		if max == 0 {
			max = 20
		}
		if h.rng == nil {
			h.rng = rand.New(rand.NewPCG(h.Seed, h.Seed+1))
		}
		seen := 0
		for _, id := range h.order {
			src := h.sources[id]
			if src.Info.Kind != sched.KindPeer || src.Hidden || src.Client == c+1 {
				continue
			}
			if src.Has == nil || src.Has(a.Track, 0) {
				info := src.Info
				info.Connected = false // the lookup does not know
				// Reservoir sampling keeps a uniform sample of max.
				seen++
				if len(found) < max {
					found = append(found, info)
				} else if j := h.rng.IntN(seen); j < max {
					found[j] = info
				}
			}
		}
		h.PostTo(c, sched.PeersFound{At: h.Now.Add(d), Track: a.Track, Sources: found})
	case sched.Warm:
		if src := h.sources[a.Source]; src != nil && !src.isConnected(c) {
			src.connected[c] = true
			info := src.Info
			info.Connected = true
			h.PostTo(c, sched.SourceUpdate{At: h.Now.Add(src.RTT), Source: info})
		}
	case sched.Finished:
		h.Finished = append(h.Finished, FinishedPlay{Client: c, Finished: a})
	case sched.GaveUp:
		h.GaveUp = append(h.GaveUp, GaveUpPlay{Client: c, GaveUp: a})
	}
}

// serve models the answer to r: one-way delay, FIFO serialisation at the
// source's real throughput, one more one-way delay.
func (h *Harness) serve(c int, r sched.Request) {
	if r.Source == sched.CacheSource {
		d := h.CacheDelay
		if d == 0 {
			d = time.Millisecond
		}
		if h.CacheMiss != nil && h.CacheMiss(r.Track, r.Chunk) {
			h.PostTo(c, sched.RequestFailed{At: h.Now.Add(d), Req: r.ID, Reason: sched.FailDontHave})
			return
		}
		h.PostTo(c, sched.ChunkArrived{At: h.Now.Add(d), Req: r.ID, Bytes: r.Bytes})
		return
	}
	src := h.sources[r.Source]
	if src == nil {
		h.PostTo(c, sched.RequestFailed{At: h.Now, Req: r.ID, Reason: sched.FailGone})
		return
	}
	n := src.served
	src.served++
	setup := time.Duration(0)
	if !src.isConnected(c) {
		setup = src.RTT
		src.connected[c] = true
		if src.Info.Kind == sched.KindPeer {
			info := src.Info
			info.Connected = true
			h.PostTo(c, sched.SourceUpdate{At: h.Now.Add(setup), Source: info})
		}
	}
	if src.Fail != nil {
		if why := src.Fail(r, n); why != 0 {
			h.PostTo(c, sched.RequestFailed{At: h.Now.Add(setup + src.RTT), Req: r.ID, Reason: why})
			return
		}
	}
	if src.Has != nil && !src.Has(r.Track, r.Chunk) {
		h.PostTo(c, sched.RequestFailed{At: h.Now.Add(setup + src.RTT), Req: r.ID, Reason: sched.FailDontHave})
		return
	}
	start := h.Now.Add(setup + src.RTT/2)
	if src.busyUntil.After(start) {
		start = src.busyUntil
	}
	bps := src.BytesPerSecond
	if bps <= 0 {
		bps = 1 << 20
	}
	done := start.Add(time.Duration(float64(r.Bytes) / float64(bps) * 1e9))
	src.busyUntil = done
	extra := src.ExtraDelay
	if src.Delay != nil {
		extra += src.Delay(r, n)
	}
	h.PostTo(c, sched.ChunkArrived{At: done.Add(src.RTT/2 + extra), Req: r.ID, Bytes: r.Bytes})
}

func eventName(ev sched.Event) string {
	switch ev.(type) {
	case sched.Play:
		return "play"
	case sched.Seek:
		return "seek"
	case sched.PlayerPosition:
		return "position"
	case sched.Show:
		return "show"
	case sched.Dropped:
		return "dropped"
	case sched.RoutingGrew:
		return "routing"
	case sched.Pause:
		return "pause"
	case sched.Resume:
		return "resume"
	case sched.ChunkArrived:
		return "arrived"
	case sched.RequestFailed:
		return "failed"
	case sched.TimerFired:
		return "timer"
	case sched.SourceUpdate:
		return "source"
	case sched.PeersFound:
		return "found"
	case sched.Queue:
		return "queue"
	case sched.Stop:
		return "stop"
	}
	return "other"
}

type queued struct {
	at     time.Time
	seq    int
	client int
	ev     sched.Event
}

type eventQueue []queued

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *eventQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
