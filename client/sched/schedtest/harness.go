package schedtest

import (
	"container/heap"
	"fmt"
	"time"

	"github.com/chorus-music/chorus/client/sched"
)

// Source is a modelled peer or origin.
type Source struct {
	// Info is what the scheduler is told (SourceUpdate): its kind and the
	// measured RTT and throughput it believes. Info.Connected is the
	// initial connection state.
	Info sched.SourceInfo
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

	busyUntil time.Time
	served    int
	connected bool
}

// Logged is one action with the virtual time it was taken.
type Logged struct {
	At     time.Time
	Action sched.Action
}

// Harness runs one Scheduler in virtual time.
type Harness struct {
	S   *sched.Scheduler
	Now time.Time
	// Log holds every action in order.
	Log []Logged
	// Delivered holds every event delivered to the scheduler, in order.
	Delivered []sched.Event
	// Finished holds the Finished actions.
	Finished []sched.Finished
	// DHTDelay is how long FindPeers takes; zero means 500 ms.
	DHTDelay time.Duration
	// CacheDelay is how long a cache read takes; zero means 1 ms.
	CacheDelay time.Duration

	sources   map[sched.SourceID]*Source
	order     []sched.SourceID
	q         eventQueue
	seq       int
	cancelled map[sched.ReqID]bool
	buf       []sched.Action
}

// New returns a harness at virtual time start driving s.
func New(s *sched.Scheduler, start time.Time) *Harness {
	return &Harness{S: s, Now: start, sources: make(map[sched.SourceID]*Source), cancelled: make(map[sched.ReqID]bool)}
}

// AddSource adds src. If announce, the scheduler is told about it now (a
// SourceUpdate); peers not announced are found by FindPeers.
func (h *Harness) AddSource(src *Source, announce bool) {
	if src.BytesPerSecond == 0 {
		src.BytesPerSecond = src.Info.BytesPerSecond
	}
	if src.RTT == 0 {
		src.RTT = src.Info.RTT
	}
	src.connected = src.Info.Connected
	h.sources[src.Info.ID] = src
	h.order = append(h.order, src.Info.ID)
	if announce {
		h.Post(sched.SourceUpdate{At: h.Now, Source: src.Info})
	}
}

// Post queues ev for delivery at ev.Time() (not before Now).
func (h *Harness) Post(ev sched.Event) {
	h.seq++
	heap.Push(&h.q, queued{at: ev.Time(), seq: h.seq, ev: ev})
}

// RunUntil delivers every queued event up to and including time end, in
// time order, then sets Now to end. It stops at the first scheduler error.
func (h *Harness) RunUntil(end time.Time) error {
	for steps := 0; h.q.Len() > 0; steps++ {
		if steps > 10_000_000 {
			return fmt.Errorf("schedtest: more than 10M events before %v", end)
		}
		if h.q[0].at.After(end) {
			break
		}
		it := heap.Pop(&h.q).(queued)
		if it.at.After(h.Now) {
			h.Now = it.at
		}
		if a, ok := it.ev.(sched.ChunkArrived); ok && h.cancelled[a.Req] {
			delete(h.cancelled, a.Req)
			continue
		}
		if f, ok := it.ev.(sched.RequestFailed); ok && h.cancelled[f.Req] {
			delete(h.cancelled, f.Req)
			continue
		}
		h.Delivered = append(h.Delivered, it.ev)
		var err error
		h.buf, err = h.S.Step(it.ev, h.buf[:0])
		if err != nil {
			return fmt.Errorf("schedtest: Step(%T) at %v: %w", it.ev, h.Now, err)
		}
		for _, a := range h.buf {
			h.apply(a)
		}
	}
	if end.After(h.Now) {
		h.Now = end
	}
	return nil
}

// Run runs for d of virtual time from Now.
func (h *Harness) Run(d time.Duration) error { return h.RunUntil(h.Now.Add(d)) }

// Requests returns the logged Requests that match keep (nil: all).
func (h *Harness) Requests(keep func(at time.Time, r sched.Request) bool) []Logged {
	var out []Logged
	for _, l := range h.Log {
		if r, ok := l.Action.(sched.Request); ok && (keep == nil || keep(l.At, r)) {
			out = append(out, l)
		}
	}
	return out
}

// Arrival returns the time request id's data was delivered, if it was.
func (h *Harness) Arrival(id sched.ReqID) (time.Time, bool) {
	for _, ev := range h.Delivered {
		if a, ok := ev.(sched.ChunkArrived); ok && a.Req == id {
			return a.At, true
		}
	}
	return time.Time{}, false
}

// Cancelled reports whether the scheduler cancelled request id.
func (h *Harness) Cancelled(id sched.ReqID) bool {
	for _, l := range h.Log {
		if c, ok := l.Action.(sched.Cancel); ok && c.Req == id {
			return true
		}
	}
	return false
}

func (h *Harness) apply(a sched.Action) {
	h.Log = append(h.Log, Logged{At: h.Now, Action: a})
	switch a := a.(type) {
	case sched.Request:
		h.serve(a)
	case sched.Cancel:
		h.cancelled[a.Req] = true
	case sched.ArmTimer:
		at := a.At
		if at.Before(h.Now) {
			at = h.Now
		}
		h.Post(sched.TimerFired{At: at, Timer: a.Timer})
	case sched.FindPeers:
		d := h.DHTDelay
		if d == 0 {
			d = 500 * time.Millisecond
		}
		var found []sched.SourceInfo
		for _, id := range h.order {
			src := h.sources[id]
			if src.Info.Kind != sched.KindPeer || src.Hidden {
				continue
			}
			if src.Has == nil || src.Has(a.Track, 0) {
				info := src.Info
				info.Connected = false // the lookup does not know
				found = append(found, info)
			}
		}
		h.Post(sched.PeersFound{At: h.Now.Add(d), Track: a.Track, Sources: found})
	case sched.Warm:
		if src := h.sources[a.Source]; src != nil && !src.connected {
			src.connected = true
			info := src.Info
			info.Connected = true
			h.Post(sched.SourceUpdate{At: h.Now.Add(src.RTT), Source: info})
		}
	case sched.Finished:
		h.Finished = append(h.Finished, a)
	}
}

// serve models the answer to r: one-way delay, FIFO serialisation at the
// source's real throughput, one more one-way delay.
func (h *Harness) serve(r sched.Request) {
	if r.Source == sched.CacheSource {
		d := h.CacheDelay
		if d == 0 {
			d = time.Millisecond
		}
		h.Post(sched.ChunkArrived{At: h.Now.Add(d), Req: r.ID, Bytes: r.Bytes})
		return
	}
	src := h.sources[r.Source]
	if src == nil {
		h.Post(sched.RequestFailed{At: h.Now, Req: r.ID, Reason: sched.FailGone})
		return
	}
	n := src.served
	src.served++
	setup := time.Duration(0)
	if !src.connected {
		setup = src.RTT
		src.connected = true
		if src.Info.Kind == sched.KindPeer {
			info := src.Info
			info.Connected = true
			h.Post(sched.SourceUpdate{At: h.Now.Add(setup), Source: info})
		}
	}
	if src.Fail != nil {
		if why := src.Fail(r, n); why != 0 {
			h.Post(sched.RequestFailed{At: h.Now.Add(setup + src.RTT), Req: r.ID, Reason: why})
			return
		}
	}
	if src.Has != nil && !src.Has(r.Track, r.Chunk) {
		h.Post(sched.RequestFailed{At: h.Now.Add(setup + src.RTT), Req: r.ID, Reason: sched.FailDontHave})
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
	h.Post(sched.ChunkArrived{At: done.Add(src.RTT/2 + extra), Req: r.ID, Bytes: r.Bytes})
}

type queued struct {
	at  time.Time
	seq int
	ev  sched.Event
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
