package sched_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
)

// BenchmarkStep drives one Scheduler through many plays in a row, each of a
// different 40-chunk track held by five peers no other play knows, with a
// minimal driver (every request answered after 20 ms, lookups after 50 ms).
// It reports the scheduler's allocations per Step and the heap it keeps per
// play: what one virtual listener costs a simulator that runs 100,000 of
// them. The driver keeps no history and allocates nothing per event
// itself; allocs/step includes the one allocation that boxes each event into
// the sched.Event interface.
//
// go test -run '^$' -bench BenchmarkStep -benchtime 2000x ./client/sched/
func BenchmarkStep(b *testing.B) {
	s, err := sched.New(sched.Config{Speed: 8})
	if err != nil {
		b.Fatal(err)
	}
	d := &benchDriver{s: s, now: t0}
	d.post(sched.SourceUpdate{At: t0, Source: sched.SourceInfo{ID: "origin", Kind: sched.KindOrigin, RTT: 40 * time.Millisecond, BytesPerSecond: 2_000_000, Connected: true}})
	d.drain(b)
	// Warm up: the first plays grow the scheduler's maps and free lists.
	for range 20 {
		d.play(b)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	steps0 := d.steps
	b.ResetTimer()
	for b.Loop() {
		d.play(b)
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	steps := d.steps - steps0
	runtime.GC()
	var kept runtime.MemStats
	runtime.ReadMemStats(&kept)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(steps), "allocs/step")
	b.ReportMetric(float64(steps)/float64(b.N), "steps/play")
	b.ReportMetric(float64(d.superseded)/float64(steps), "superseded-timers/step")
	b.ReportMetric((float64(kept.HeapAlloc)-float64(before.HeapAlloc))/float64(b.N), "kept-B/play")
	runtime.KeepAlive(s)
}

// benchDriver answers a scheduler's actions in virtual time.
type benchDriver struct {
	s          *sched.Scheduler
	now        time.Time
	q          benchQueue
	seq        int
	out        []sched.Action
	plays      int
	steps      int
	superseded int
	timer      sched.TimerID // the last armed timer
	peers      []sched.SourceInfo
	sizes      []int
}

func (d *benchDriver) post(ev sched.Event) {
	d.seq++
	d.q.push(benchItem{at: ev.Time(), seq: d.seq, ev: ev})
}

// play plays a fresh track to its end.
func (d *benchDriver) play(b *testing.B) {
	d.plays++
	id := fmt.Sprintf("track-%d", d.plays)
	if d.sizes == nil {
		d.sizes = make([]int, 40)
		for i := range d.sizes {
			d.sizes[i] = chunk
		}
	}
	d.peers = d.peers[:0]
	for j := range 5 {
		d.peers = append(d.peers, sched.SourceInfo{ID: sched.SourceID(fmt.Sprintf("peer-%d-%d", d.plays, j)), Kind: sched.KindPeer, RTT: 30 * time.Millisecond, BytesPerSecond: 1_000_000})
	}
	d.post(sched.Play{At: d.now, Track: sched.TrackInfo{ID: id, ChunkSizes: d.sizes, BitrateBps: 160_000}})
	d.drain(b)
}

// drain delivers events until none is left (the play finished).
func (d *benchDriver) drain(b *testing.B) {
	for len(d.q) > 0 {
		it := d.q.pop()
		d.now = it.at
		if tf, ok := it.ev.(sched.TimerFired); ok && tf.Timer != d.timer {
			d.superseded++
		}
		var err error
		d.out, err = d.s.Step(it.ev, d.out[:0])
		d.steps++
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range d.out {
			switch a := a.(type) {
			case sched.Request:
				d.post(sched.ChunkArrived{At: d.now.Add(20 * time.Millisecond), Req: a.ID, Bytes: a.Bytes})
			case sched.ArmTimer:
				d.timer = a.Timer
				d.post(sched.TimerFired{At: a.At, Timer: a.Timer})
			case sched.FindPeers:
				d.post(sched.PeersFound{At: d.now.Add(50 * time.Millisecond), Track: a.Track, Sources: d.peers})
			case sched.Warm:
				for _, p := range d.peers {
					if p.ID == a.Source {
						p.Connected = true
						d.post(sched.SourceUpdate{At: d.now.Add(30 * time.Millisecond), Source: p})
					}
				}
			}
		}
	}
}

type benchItem struct {
	at  time.Time
	seq int
	ev  sched.Event
}

// benchQueue is a binary min-heap by (at, seq) that, unlike
// container/heap, boxes nothing.
type benchQueue []benchItem

func (q benchQueue) less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}

func (q *benchQueue) push(it benchItem) {
	*q = append(*q, it)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *benchQueue) pop() benchItem {
	h := *q
	it := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = benchItem{}
	h = h[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return it
}
