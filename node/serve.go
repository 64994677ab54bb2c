package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/chorus-music/chorus/protocol"
)

// serveStream is the server side of one chunk stream: a reader that queues
// requests and a worker that answers them, undated requests first in the
// order they came, then dated ones (protocol version 2) earliest deadline
// first.
type serveStream struct {
	n  *Node
	p  peer.ID
	s  network.Stream
	bw *burstWriter

	ctx    context.Context // cancelled when the stream ends
	cancel context.CancelFunc

	wmu sync.Mutex // guards bw

	mu        sync.Mutex         // guards the fields below
	queue     []queued           // in service order (see before)
	seq       uint64             // arrivals so far
	holding   bool               // holds an upload slot
	heldSince time.Time          // since when, on the node's clock
	curID     uint64             // request in service
	curCancel context.CancelFunc // cancels the request in service; nil if none
	eof       bool               // the peer closed its side: finish the queue, then stop
	wake      chan struct{}      // capacity 1: the queue grew, or eof was set
}

// queued is one request waiting for service.
type queued struct {
	id       uint64
	cid      []byte
	dated    bool
	deadline uint64
	seq      uint64 // arrival order
}

// before reports whether a is served before b: undated requests (every
// request of a version-1 peer, and the first flight of a version-2 one)
// first, in arrival order; then dated ones by deadline, ties in arrival
// order.
func (a queued) before(b queued) bool {
	if a.dated != b.dated {
		return !a.dated
	}
	if a.dated && a.deadline != b.deadline {
		return a.deadline < b.deadline
	}
	return a.seq < b.seq
}

// handleChunk serves one inbound chunk stream.
func (n *Node) handleChunk(s network.Stream) {
	if n.opts.ServeStream != nil {
		s = n.opts.ServeStream(s)
	}
	p := s.Conn().RemotePeer()
	br := bufio.NewReader(s)

	// The first frame is the peer's Hello; its ticket admits the peer if it
	// has not been admitted yet (a cold fetch carries it with the request).
	_ = s.SetReadDeadline(realDeadline(n.opts.AdmitTimeout))
	msg, err := protocol.ReadMessage(br)
	if err != nil {
		s.Reset()
		return
	}
	hello, ok := msg.(*protocol.Hello)
	if !ok || hello.Version == 0 {
		n.reject(p, fmt.Errorf("chunk stream opened with %T (or hello version 0)", msg), "rejected")
		s.Reset()
		return
	}
	if err := n.checkTicket(p, hello.Ticket); err != nil {
		if !errors.Is(err, errNoTicket) || n.waitAdmitted(n.ctx, p) != nil {
			s.Reset()
			return
		}
	}
	_ = s.SetReadDeadline(noDeadline)

	ctx, cancel := context.WithCancel(n.ctx)
	ss := &serveStream{n: n, p: p, s: s, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1)}
	ss.bw = &burstWriter{pool: n.servePool, w: &pacedWriter{w: s, lim: n.limiter, ctx: ctx}}
	ss.wmu.Lock()
	err = protocol.WriteMessage(ss.bw, &protocol.Hello{Version: protocol.ChunkVersion, Ticket: n.ownTicket()})
	ss.wmu.Unlock()
	if err != nil {
		cancel()
		s.Reset()
		return
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		ss.work()
	}()
	if err := ss.read(br); errors.Is(err, io.EOF) {
		// The peer closed its side: answer what is queued, then end.
		ss.mu.Lock()
		ss.eof = true
		ss.mu.Unlock()
		select {
		case ss.wake <- struct{}{}:
		default:
		}
	} else {
		cancel()
	}
	<-done
	cancel()
	ss.mu.Lock()
	n.queueChanged(-int64(len(ss.queue)))
	ss.queue = nil
	if ss.holding {
		ss.holding = false
		<-n.slots
		n.releasePeer(ss.p, 1)
	}
	ss.mu.Unlock()
	s.Close()
}

// read handles frames until the stream ends, returning why (io.EOF for a
// clean close of the peer's side).
func (ss *serveStream) read(br *bufio.Reader) error {
	n := ss.n
	for {
		msg, err := protocol.ReadMessage(br)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *protocol.Request, *protocol.DatedRequest:
			var q queued
			switch m := m.(type) {
			case *protocol.Request:
				q = queued{id: m.ID, cid: m.CID}
			case *protocol.DatedRequest:
				q = queued{id: m.ID, cid: m.CID, dated: true, deadline: m.Deadline}
			}
			if !ss.enqueue(q) {
				n.m.served.WithLabelValues(protocol.StatusBusy.String()).Inc()
				if err := ss.respond(&protocol.Response{ID: q.id, Status: protocol.StatusBusy}); err != nil {
					return err
				}
			}
		case *protocol.Cancel:
			ss.cancelRequest(m.ID)
		default:
			n.log.Debug("unexpected chunk frame", "remote", ss.p.String(), "type", fmt.Sprintf("%T", msg))
			ss.s.Reset()
			return fmt.Errorf("%w: unexpected %T", protocol.ErrMalformed, msg)
		}
	}
}

// enqueue queues r in service order, taking an upload slot if this stream
// has none. It reports false when the request must be answered Busy.
func (ss *serveStream) enqueue(r queued) bool {
	n := ss.n
	if n.opts.Upload.Disabled {
		return false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.queue) >= n.opts.Upload.MaxQueuePerPeer {
		return false
	}
	if !ss.holding {
		select {
		case n.slots <- struct{}{}:
			ss.holding, ss.heldSince = true, n.clock.Now()
			n.holdPeer(ss.p)
		default:
			n.slotRefused.Store(n.clock.Now().UnixNano())
			return false
		}
	}
	ss.seq++
	r.seq = ss.seq
	i := len(ss.queue)
	for i > 0 && r.before(ss.queue[i-1]) {
		i--
	}
	ss.queue = slices.Insert(ss.queue, i, r)
	n.queueChanged(1)
	select {
	case ss.wake <- struct{}{}:
	default:
	}
	return true
}

func (ss *serveStream) cancelRequest(id uint64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if i := slices.IndexFunc(ss.queue, func(r queued) bool { return r.id == id }); i >= 0 {
		ss.queue = slices.Delete(ss.queue, i, i+1)
		ss.n.queueChanged(-1)
		return
	}
	if ss.curCancel != nil && ss.curID == id {
		ss.curCancel()
	}
}

// work answers queued requests in service order, releasing the upload slot whenever
// the queue runs dry.
func (ss *serveStream) work() {
	n := ss.n
	for {
		ss.mu.Lock()
		if len(ss.queue) == 0 {
			if ss.holding {
				ss.holding = false
				<-n.slots
				n.releasePeer(ss.p, 1)
			}
			eof := ss.eof
			ss.mu.Unlock()
			if eof {
				return
			}
			select {
			case <-ss.wake:
				continue
			case <-ss.ctx.Done():
				return
			}
		}
		r := ss.queue[0]
		ss.queue = ss.queue[1:]
		n.queueChanged(-1)
		ctx, cancel := context.WithCancel(ss.ctx)
		ss.curID, ss.curCancel = r.id, cancel
		ss.mu.Unlock()

		resp := ss.answer(ctx, r)
		err := ss.respond(resp)
		ss.mu.Lock()
		ss.curCancel = nil
		ss.mu.Unlock()
		cancel()
		if err != nil {
			if ss.ctx.Err() == nil && ctx.Err() == nil {
				n.log.Debug("chunk response", "remote", ss.p.String(), "err", err)
				ss.s.Reset()
				ss.cancel()
			}
			if ss.ctx.Err() != nil {
				return
			}
			continue
		}
		n.m.served.WithLabelValues(resp.Status.String()).Inc()
		if resp.Status == protocol.StatusOK {
			n.m.uploaded.Add(float64(len(resp.Data)))
		}
		if err := ss.yield(); err != nil {
			return
		}
	}
}

// slotTurn is how long a stream keeps its upload slot while another peer
// is refused one: a requester whose window keeps its queue full (a whole
// track's download) would otherwise hold the slot to the end. Past its
// turn the stream gives the slot up and answers what it has queued Busy;
// the requester backs off and asks again, and the refused peer gets its
// turn.
const slotTurn = 2 * time.Second

// yield gives up the stream's slot if its turn is over (see slotTurn).
func (ss *serveStream) yield() error {
	n := ss.n
	ss.mu.Lock()
	now := n.clock.Now()
	if !ss.holding || n.slotRefused.Load() < ss.heldSince.UnixNano() || now.Sub(ss.heldSince) < slotTurn {
		ss.mu.Unlock()
		return nil
	}
	ss.holding = false
	<-n.slots
	n.releasePeer(ss.p, 1)
	busy := ss.queue
	ss.queue = nil
	n.queueChanged(-int64(len(busy)))
	ss.mu.Unlock()
	n.log.Debug("upload slot yielded", "remote", ss.p.String(), "held", now.Sub(ss.heldSince), "queued", len(busy))
	for _, r := range busy {
		n.m.served.WithLabelValues(protocol.StatusBusy.String()).Inc()
		if err := ss.respond(&protocol.Response{ID: r.id, Status: protocol.StatusBusy}); err != nil {
			return err
		}
	}
	return nil
}

// answer looks r up in the store.
func (ss *serveStream) answer(ctx context.Context, r queued) *protocol.Response {
	n := ss.n
	c, err := cid.Cast(r.cid)
	if err != nil {
		return &protocol.Response{ID: r.id, Status: protocol.StatusError}
	}
	if n.opts.Store == nil || !n.opts.Store.Has(c) {
		return &protocol.Response{ID: r.id, Status: protocol.StatusDontHave}
	}
	data, err := n.opts.Store.Get(ctx, c)
	if err != nil {
		n.log.Debug("store get", "cid", c.String(), "err", err)
		return &protocol.Response{ID: r.id, Status: protocol.StatusDontHave}
	}
	if len(data) > protocol.MaxChunkData {
		n.log.Warn("stored chunk too large to serve", "cid", c.String(), "size", len(data))
		return &protocol.Response{ID: r.id, Status: protocol.StatusError}
	}
	return &protocol.Response{ID: r.id, Status: protocol.StatusOK, Data: data}
}

// responseWriteTimeout bounds writing one response: a peer that stops
// reading loses its stream (and the upload slot it held) after this. It fits
// a 1 MiB chunk at 35 KB/s.
const responseWriteTimeout = 30 * time.Second

// queueChanged adds delta to the count of queued requests.
func (n *Node) queueChanged(delta int64) {
	if delta == 0 {
		return
	}
	q := n.queued.Add(delta)
	if n.queueHook != nil {
		n.queueHook(q)
	}
}

// respond writes one response and flushes it.
func (ss *serveStream) respond(resp *protocol.Response) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	_ = ss.s.SetWriteDeadline(realDeadline(responseWriteTimeout))
	if err := protocol.WriteMessage(ss.bw, resp); err != nil {
		return err
	}
	return ss.bw.Flush()
}

// pacedWriter spends tokens from lim before each write, in pieces no larger
// than the bucket. A nil lim writes straight through.
type pacedWriter struct {
	w   io.Writer
	lim *rate.Limiter
	ctx context.Context
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	if p.lim == nil {
		return p.w.Write(b)
	}
	written := 0
	for len(b) > 0 {
		k := min(len(b), max(p.lim.Burst()/4, 1))
		if err := p.lim.WaitN(p.ctx, k); err != nil {
			return written, err
		}
		m, err := p.w.Write(b[:k])
		written += m
		if err != nil {
			return written, err
		}
		b = b[k:]
	}
	return written, nil
}
