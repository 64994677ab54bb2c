package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	lp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
)

// session is the client side of one chunk stream to a peer, shared by all
// concurrent Fetch calls to that peer: requests are pipelined and matched to
// responses by ID.
type session struct {
	n  *Node
	p  peer.ID
	s  network.Stream
	rw io.ReadWriter // the stream behind lazy protocol selection

	wmu sync.Mutex // guards bw
	bw  *burstWriter

	done chan struct{} // closed by fail

	// peerVersion is the chunk protocol version the peer's Hello gave; 0
	// until it arrived.
	peerVersion atomic.Uint64

	mu      sync.Mutex // guards the fields below
	err     error      // why the session ended; set once with done
	nextID  uint64
	pending map[uint64]chan *protocol.Response
}

// Fetch returns chunk c from peer p, verified against c. Concurrent calls
// for one peer share one stream. If p is not connected, Fetch dials it from
// the peerstore's addresses (see AddAddrs, FetchFrom; FindProviders fills
// them) and sends the request in the first flight after the QUIC handshake,
// without waiting for identify or a protocol negotiation round trip.
//
// Errors: ErrDontHave, ErrBusy, ErrPeerGone, ErrNotAdmitted, ErrCorruptChunk,
// ErrRemote (see Retryable), or the context's error, wrapped with the peer
// and CID.
func (n *Node) Fetch(ctx context.Context, p peer.ID, c cid.Cid) ([]byte, error) {
	return n.StartFetch(ctx, p, c, time.Time{}).Wait()
}

// PendingFetch is a request StartFetch queued; Wait returns its answer.
type PendingFetch struct {
	n    *Node
	ctx  context.Context
	p    peer.ID
	c    cid.Cid
	dl   time.Time     // the requester's deadline; zero: none
	sent chan struct{} // closed once the request is on the stream, or failed

	// Set before sent is closed.
	s   *session
	id  uint64
	ch  chan *protocol.Response
	err error
}

// StartFetch queues a request for chunk c at peer p and returns at once.
// The requests started for one peer leave in the order of the calls, and
// those started together (before the stream is free to write) leave in one
// write: a driver that starts a step's requests in deadline order gets them
// served in that order, the most urgent in the first packet. A non-zero
// deadline goes with the request to a peer that speaks chunk protocol
// version 2 (protocol.DatedRequest), which serves a stream's requests
// earliest deadline first; the first flight to a peer, sent before its
// Hello said its version, goes undated. Wait returns what Fetch would.
func (n *Node) StartFetch(ctx context.Context, p peer.ID, c cid.Cid, deadline time.Time) *PendingFetch {
	f := &PendingFetch{n: n, ctx: ctx, p: p, c: c, dl: deadline, sent: make(chan struct{})}
	if p == n.host.ID() {
		f.err = fmt.Errorf("%w: fetch from self", ErrPeerGone)
		close(f.sent)
		return f
	}
	n.smu.Lock()
	ob := n.outboxes[p]
	if ob == nil {
		ob = &outbox{}
		n.outboxes[p] = ob
	}
	ob.queue = append(ob.queue, f)
	start := !ob.running
	ob.running = true
	n.smu.Unlock()
	if start {
		go n.drain(p, ob)
	}
	return f
}

// outbox holds the requests started for one peer and not yet written; its
// fields are guarded by Node.smu.
type outbox struct {
	queue   []*PendingFetch
	running bool // a drain goroutine owns the outbox
}

// drain writes ob's requests to p's session, in order, until the outbox is
// empty, opening the session first if needed.
func (n *Node) drain(p peer.ID, ob *outbox) {
	for {
		n.smu.Lock()
		batch := ob.queue
		ob.queue = nil
		if len(batch) == 0 {
			ob.running = false
			if n.outboxes[p] == ob {
				delete(n.outboxes, p)
			}
			n.smu.Unlock()
			return
		}
		n.smu.Unlock()
		// The session outlives any one request: open it under the node's
		// context, given up when every queued request is gone.
		ctx, cancel := context.WithCancel(n.ctx)
		stop := context.AfterFunc(batch[0].ctx, func() {
			for _, f := range batch {
				if f.ctx.Err() == nil {
					return
				}
			}
			cancel()
		})
		s, err := n.session(ctx, p)
		stop()
		cancel()
		if err == nil {
			err = s.sendBatch(batch)
		}
		for _, f := range batch {
			if err != nil && f.err == nil {
				f.err = err
			}
			close(f.sent)
		}
	}
}

// Wait returns the chunk, verified against its CID, or why not (see
// Fetch). It sends Cancel if the request's context ends first.
func (f *PendingFetch) Wait() ([]byte, error) {
	data, err := f.wait()
	n, result := f.n, "ok"
	switch {
	case err == nil:
		n.m.downloaded.Add(float64(len(data)))
	case errors.Is(err, ErrDontHave):
		result = "dont_have"
	case errors.Is(err, ErrBusy):
		result = "busy"
	case errors.Is(err, ErrCorruptChunk):
		result = "corrupt"
	case errors.Is(err, ErrNotAdmitted):
		result = "not_admitted"
	case errors.Is(err, ErrPeerGone):
		result = "peer_gone"
	case f.ctx.Err() != nil:
		result = "timeout"
	default:
		result = "error"
	}
	n.m.fetches.WithLabelValues(result).Inc()
	if err != nil {
		return nil, fmt.Errorf("node: fetch %s from %s: %w", f.c, f.p, err)
	}
	return data, nil
}

func (f *PendingFetch) wait() ([]byte, error) {
	select {
	case <-f.sent:
	case <-f.ctx.Done():
		// Still queued or being written: a request the drain wrote
		// after all is withdrawn.
		go func() {
			<-f.sent
			if f.err == nil {
				f.s.withdraw(f.id)
			}
		}()
		return nil, f.ctx.Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	resp, err := f.s.await(f.ctx, f.id, f.ch)
	if err != nil {
		return nil, err
	}
	switch resp.Status {
	case protocol.StatusOK:
	case protocol.StatusDontHave:
		return nil, ErrDontHave
	case protocol.StatusBusy:
		return nil, ErrBusy
	default:
		return nil, ErrRemote
	}
	if !catalog.VerifyCID(f.c, resp.Data) {
		return nil, ErrCorruptChunk
	}
	return resp.Data, nil
}

// FetchFrom records ai's addresses and fetches c from it.
func (n *Node) FetchFrom(ctx context.Context, ai peer.AddrInfo, c cid.Cid) ([]byte, error) {
	if len(ai.Addrs) > 0 {
		n.AddAddrs(ai)
	}
	return n.Fetch(ctx, ai.ID, c)
}

// session returns the live session to p, opening one if needed. Only one
// open attempt per peer runs at a time; others wait for it.
func (n *Node) session(ctx context.Context, p peer.ID) (*session, error) {
	for {
		n.smu.Lock()
		if s := n.sessions[p]; s != nil {
			n.smu.Unlock()
			return s, nil
		}
		if wait, ok := n.opening[p]; ok {
			n.smu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		wait := make(chan struct{})
		n.opening[p] = wait
		n.smu.Unlock()

		s, err := n.openSession(ctx, p)
		n.smu.Lock()
		delete(n.opening, p)
		if err == nil {
			n.sessions[p] = s
		}
		close(wait)
		n.smu.Unlock()
		if err != nil {
			return nil, err
		}
		go s.readLoop()
		return s, nil
	}
}

// openSession opens a chunk stream to p on an existing connection, or on a
// new one (dialled without waiting for identify). The stream selects the
// chunk protocol lazily: our Hello, buffered here, leaves with the first
// request, together with the multistream header.
func (n *Node) openSession(ctx context.Context, p peer.ID) (*session, error) {
	if n.isClosed() {
		return nil, ErrClosed
	}
	if n.isRejected(p) {
		return nil, fmt.Errorf("%w: refused earlier", ErrNotAdmitted)
	}
	var conn network.Conn
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if !c.IsClosed() {
			conn = c
			break
		}
	}
	if conn == nil {
		var err error
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		conn, err = n.host.Network().DialPeer(dctx, p)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, n.peerError(p, fmt.Errorf("dial: %w", err))
		}
	}
	st, err := conn.NewStream(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, n.peerError(p, fmt.Errorf("open stream: %w", err))
	}
	if err := st.SetProtocol(protocol.ChunkProtocol); err != nil {
		st.Reset()
		return nil, fmt.Errorf("%w: set protocol: %w", ErrPeerGone, err)
	}
	lz := msmux.NewMSSelect(st, lp2pproto.ID(protocol.ChunkProtocol))
	s := &session{
		n:       n,
		p:       p,
		s:       st,
		rw:      lz,
		bw:      &burstWriter{pool: n.sessionPool, w: lz},
		done:    make(chan struct{}),
		pending: make(map[uint64]chan *protocol.Response),
	}
	if err := protocol.WriteMessage(s.bw, &protocol.Hello{Version: protocol.ChunkVersion, Ticket: n.ownTicket()}); err != nil {
		st.Reset()
		return nil, err
	}
	return s, nil
}

// sendBatch registers and writes a Request for each fetch of batch whose
// context is still live, in order, with one flush.
func (s *session) sendBatch(batch []*PendingFetch) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	wrote := false
	for _, f := range batch {
		if f.ctx.Err() != nil {
			f.err = f.ctx.Err()
			continue
		}
		ch := make(chan *protocol.Response, 1)
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return err
		}
		s.nextID++
		id := s.nextID
		s.pending[id] = ch
		s.n.holdPeer(s.p)
		s.mu.Unlock()
		f.s, f.id, f.ch = s, id, ch
		var m protocol.Message = &protocol.Request{ID: id, CID: f.c.Bytes()}
		if !f.dl.IsZero() && s.peerVersion.Load() >= protocol.DatedRequestVersion {
			m = &protocol.DatedRequest{ID: id, Deadline: uint64(max(f.dl.UnixMilli(), 0)), CID: f.c.Bytes()}
		}
		if err := protocol.WriteMessage(s.bw, m); err != nil {
			s.fail(s.readError(fmt.Errorf("send request: %w", err)))
			return s.cause()
		}
		wrote = true
	}
	if !wrote {
		return nil
	}
	if err := s.bw.Flush(); err != nil {
		s.fail(s.readError(fmt.Errorf("send request: %w", err)))
		return s.cause()
	}
	return nil
}

// await waits for the Response to request id, sending Cancel if ctx ends
// first.
func (s *session) await(ctx context.Context, id uint64, ch chan *protocol.Response) (*protocol.Response, error) {
	select {
	case resp := <-ch:
		return resp, nil
	case <-s.done:
		return nil, s.cause()
	case <-ctx.Done():
		go s.withdraw(id)
		return nil, ctx.Err()
	}
}

// withdraw forgets request id and sends Cancel for it.
func (s *session) withdraw(id uint64) {
	s.mu.Lock()
	if _, ok := s.pending[id]; ok {
		delete(s.pending, id)
		s.n.releasePeer(s.p, 1)
	}
	s.mu.Unlock()
	if err := s.send(&protocol.Cancel{ID: id}); err != nil {
		s.fail(s.readError(fmt.Errorf("send cancel: %w", err)))
	}
}

func (s *session) send(m protocol.Message) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := protocol.WriteMessage(s.bw, m); err != nil {
		return err
	}
	return s.bw.Flush()
}

func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// readLoop checks the peer's Hello, then hands responses to their waiters.
func (s *session) readLoop() {
	n := s.n
	br := bufio.NewReader(s.rw)
	msg, err := protocol.ReadMessage(br)
	if err != nil {
		s.fail(s.readError(err))
		return
	}
	hello, ok := msg.(*protocol.Hello)
	if !ok || hello.Version == 0 {
		n.reject(s.p, fmt.Errorf("chunk stream answered with %T (or hello version 0)", msg), "rejected")
		s.fail(fmt.Errorf("%w: no hello", ErrNotAdmitted))
		return
	}
	if err := n.checkTicket(s.p, hello.Ticket); err != nil {
		if !errors.Is(err, errNoTicket) || n.waitAdmitted(n.ctx, s.p) != nil {
			s.fail(err)
			return
		}
	}
	s.peerVersion.Store(hello.Version)
	for {
		msg, err := protocol.ReadMessage(br)
		if err != nil {
			s.fail(s.readError(err))
			return
		}
		resp, ok := msg.(*protocol.Response)
		if !ok {
			s.fail(fmt.Errorf("%w: unexpected %T", ErrPeerGone, msg))
			return
		}
		s.mu.Lock()
		ch := s.pending[resp.ID]
		if ch != nil {
			delete(s.pending, resp.ID)
			n.releasePeer(s.p, 1)
		}
		s.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
}

func (s *session) readError(err error) error { return s.n.peerError(s.p, err) }

// peerError classifies a stream or connection failure with p: ErrNotAdmitted
// if we refused p (that is why the connection went), else ErrPeerGone.
func (n *Node) peerError(p peer.ID, err error) error {
	if n.isRejected(p) {
		return fmt.Errorf("%w: %w", ErrNotAdmitted, err)
	}
	return fmt.Errorf("%w: %w", ErrPeerGone, err)
}

// fail ends the session with err (first error wins), releasing every waiter.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	s.n.releasePeer(s.p, len(s.pending))
	s.pending = nil
	close(s.done)
	s.mu.Unlock()
	s.s.Reset()
	n := s.n
	n.smu.Lock()
	if n.sessions[s.p] == s {
		delete(n.sessions, s.p)
	}
	n.smu.Unlock()
}
