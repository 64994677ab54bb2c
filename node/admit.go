package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	lp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"

	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
)

const (
	// minRenew is the shortest wait between ticket renewal attempts.
	minRenew = 5 * time.Second
	// ticketFetchTimeout bounds one call to Options.Tickets.
	ticketFetchTimeout = 30 * time.Second
	// rejectMemory is how long a rejected peer is kept out of DHT queries.
	rejectMemory = 10 * time.Minute
	// maxAdmitRead bounds what is read from an admission stream.
	maxAdmitRead = protocol.MaxTicketSize + 64
)

// peerState is what the node knows about a remote peer's admission.
type peerState struct {
	expires     time.Time     // ticket expiry; zero if never admitted or rejected
	account     string        // account named by the ticket
	ready       chan struct{} // closed while admitted
	readyClosed bool
	timer       clock.Timer // expiry check
}

type rejection struct {
	until  time.Time
	reason error
}

// setTicketFrom fetches and installs this node's own ticket.
func (n *Node) setTicketFrom(ctx context.Context, self peer.ID) error {
	ctx, cancel := context.WithTimeout(ctx, ticketFetchTimeout)
	defer cancel()
	t, err := n.opts.Tickets.Ticket(ctx, self)
	if err != nil {
		return err
	}
	var raw []byte
	if t.PeerID != "" {
		raw, err = json.Marshal(t)
		if err != nil {
			return fmt.Errorf("encode ticket: %w", err)
		}
		if len(raw) > protocol.MaxTicketSize {
			return fmt.Errorf("ticket of %d bytes exceeds %d", len(raw), protocol.MaxTicketSize)
		}
		if err := t.Verify(n.opts.TrackerKeys(), self.String(), n.clock.Now()); err != nil {
			// Keep going: peers will refuse us, which tests of hostile
			// nodes rely on; a real client gets a fresh ticket next time.
			n.log.Warn("own ticket does not verify", "err", err)
		}
	}
	n.amu.Lock()
	n.ticket, n.ticketBytes = t, raw
	n.amu.Unlock()
	return nil
}

func (n *Node) ownTicket() []byte {
	n.amu.Lock()
	defer n.amu.Unlock()
	return n.ticketBytes
}

// scheduleRenewLocked arms the renewal timer at 2/3 of the ticket's
// remaining lifetime (at least minRenew). A node without a ticket does not
// renew. Requires amu held.
func (n *Node) scheduleRenewLocked() {
	if n.closed || n.ticket.PeerID == "" {
		return
	}
	d := n.ticket.Expires().Sub(n.clock.Now()) * 2 / 3
	if d < minRenew {
		d = minRenew
	}
	if n.renewTimer != nil {
		n.renewTimer.Stop()
	}
	n.renewTimer = n.clock.AfterFunc(d, func() { go n.renew() })
}

// renew fetches a fresh ticket and re-sends it to every connected peer.
func (n *Node) renew() {
	if n.isClosed() {
		return
	}
	err := n.setTicketFrom(n.ctx, n.host.ID())
	n.amu.Lock()
	n.scheduleRenewLocked()
	n.amu.Unlock()
	if err != nil {
		n.log.Warn("ticket renewal failed", "err", err)
		return
	}
	n.log.Debug("ticket renewed")
	for _, c := range n.host.Network().Conns() {
		go n.sendTicket(c)
	}
}

// onConnected runs for every new connection, both directions: it sends our
// ticket and gives the peer AdmitTimeout to send its own.
func (n *Node) onConnected(c network.Conn) {
	if n.isClosed() {
		return
	}
	p := c.RemotePeer()
	go n.sendTicket(c)
	if n.isAdmitted(p) {
		return
	}
	n.clock.AfterFunc(n.opts.AdmitTimeout, func() {
		if n.isClosed() || n.isAdmitted(p) || n.host.Network().Connectedness(p) != network.Connected {
			return
		}
		n.reject(p, fmt.Errorf("no valid ticket within %v", n.opts.AdmitTimeout), "timeout")
	})
}

func (n *Node) onDisconnected(c network.Conn) {
	p := c.RemotePeer()
	if n.host.Network().Connectedness(p) == network.Connected {
		return
	}
	n.smu.Lock()
	s := n.sessions[p]
	n.smu.Unlock()
	if s != nil {
		s.fail(s.readError(errors.New("disconnected")))
	}
}

// sendTicket opens an admission stream on c and sends our ticket. It does
// not wait for identify: the stream selects its protocol optimistically.
func (n *Node) sendTicket(c network.Conn) {
	raw := n.ownTicket()
	if raw == nil || c.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.AdmitTimeout)
	defer cancel()
	s, err := c.NewStream(ctx)
	if err != nil {
		n.log.Debug("admission stream", "remote", c.RemotePeer().String(), "err", err)
		return
	}
	defer s.Close()
	if err := s.SetProtocol(protocol.AdmitProtocol); err != nil {
		s.Reset()
		return
	}
	_ = s.SetDeadline(realDeadline(n.opts.AdmitTimeout))
	lz := msmux.NewMSSelect(s, lp2pproto.ID(protocol.AdmitProtocol))
	if err := protocol.WriteMessage(lz, &protocol.Hello{Version: protocol.ChunkVersion, Ticket: raw}); err != nil {
		s.Reset()
		return
	}
	_ = s.CloseWrite()
	// Wait for the peer to read it and close, so our close cannot race the
	// negotiation reply.
	_, _ = io.Copy(io.Discard, io.LimitReader(lz, maxAdmitRead))
}

// handleAdmit reads a peer's ticket from an admission stream.
func (n *Node) handleAdmit(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	_ = s.SetDeadline(realDeadline(n.opts.AdmitTimeout))
	msg, err := protocol.ReadMessage(bufio.NewReader(io.LimitReader(s, maxAdmitRead)))
	if err != nil {
		n.log.Debug("admission read", "remote", p.String(), "err", err)
		s.Reset()
		return
	}
	hello, ok := msg.(*protocol.Hello)
	if !ok {
		n.reject(p, fmt.Errorf("admission stream sent %T", msg), "rejected")
		s.Reset()
		return
	}
	if err := n.checkTicket(p, hello.Ticket); err != nil {
		s.Reset()
	}
}

// checkTicket verifies a ticket p sent. An empty ticket is not an offence
// (the peer may be admitted already, or send it on another stream) but does
// not admit; a bad one disconnects p.
func (n *Node) checkTicket(p peer.ID, raw []byte) error {
	if len(raw) == 0 {
		if n.isAdmitted(p) {
			return nil
		}
		return errNoTicket
	}
	t, err := protocol.DecodeTicket(raw)
	if err == nil {
		err = t.Verify(n.opts.TrackerKeys(), p.String(), n.clock.Now())
	}
	if err != nil {
		result := "rejected"
		if errors.Is(err, protocol.ErrTicketExpired) {
			result = "expired"
		}
		n.reject(p, err, result)
		return fmt.Errorf("%w: %w", ErrNotAdmitted, err)
	}
	n.admit(p, t)
	return nil
}

func (n *Node) peerStateLocked(p peer.ID) *peerState {
	st := n.peers[p]
	if st == nil {
		st = &peerState{ready: make(chan struct{})}
		n.peers[p] = st
	}
	return st
}

// admit records p's verified ticket.
func (n *Node) admit(p peer.ID, t protocol.Ticket) {
	now := n.clock.Now()
	n.amu.Lock()
	if n.closed {
		n.amu.Unlock()
		return
	}
	st := n.peerStateLocked(p)
	wasAdmitted := now.Before(st.expires)
	st.expires, st.account = t.Expires(), t.Account
	if !st.readyClosed {
		close(st.ready)
		st.readyClosed = true
	}
	delete(n.rejected, p)
	if st.timer != nil {
		st.timer.Stop()
	}
	st.timer = n.clock.AfterFunc(st.expires.Sub(now), func() { n.checkExpiry(p) })
	n.amu.Unlock()
	if n.admitHook != nil {
		n.admitHook(p, t)
	}
	if !wasAdmitted {
		n.m.admission.WithLabelValues("admitted").Inc()
		n.log.Debug("peer admitted", "remote", p.String(), "account", t.Account)
		// Identify may have finished before the ticket arrived, when the
		// routing table filter still refused p: ask the DHT to look again.
		_ = n.nudge.Emit(event.EvtPeerProtocolsUpdated{Peer: p})
	}
}

// checkExpiry disconnects p if its ticket expired without renewal.
func (n *Node) checkExpiry(p peer.ID) {
	if n.isClosed() || n.isAdmitted(p) {
		return
	}
	if n.host.Network().Connectedness(p) == network.Connected {
		n.reject(p, protocol.ErrTicketExpired, "expired")
		return
	}
	n.amu.Lock()
	if st := n.peers[p]; st != nil && !n.clock.Now().Before(st.expires) {
		delete(n.peers, p)
	}
	n.amu.Unlock()
}

// reject forgets p's admission, keeps it out of DHT queries for a while and
// closes its connections.
func (n *Node) reject(p peer.ID, reason error, result string) {
	now := n.clock.Now()
	n.amu.Lock()
	if n.closed {
		n.amu.Unlock()
		return
	}
	if st := n.peers[p]; st != nil {
		st.expires = time.Time{}
		if st.timer != nil {
			st.timer.Stop()
		}
		delete(n.peers, p)
	}
	n.rejected[p] = rejection{until: now.Add(rejectMemory), reason: reason}
	for q, r := range n.rejected {
		if now.After(r.until) {
			delete(n.rejected, q)
		}
	}
	n.amu.Unlock()
	n.m.admission.WithLabelValues(result).Inc()
	n.log.Info("peer refused", "remote", p.String(), "reason", reason)
	n.host.ConnManager().Unprotect(p, warmTag)
	go n.host.Network().ClosePeer(p)
}

// isAdmitted reports whether p has shown a ticket that is still valid.
func (n *Node) isAdmitted(p peer.ID) bool {
	n.amu.Lock()
	defer n.amu.Unlock()
	st := n.peers[p]
	return st != nil && n.clock.Now().Before(st.expires)
}

func (n *Node) isRejected(p peer.ID) bool {
	n.amu.Lock()
	defer n.amu.Unlock()
	r, ok := n.rejected[p]
	return ok && n.clock.Now().Before(r.until)
}

// PeerAccount returns the account named by p's valid ticket.
func (n *Node) PeerAccount(p peer.ID) (string, bool) {
	n.amu.Lock()
	defer n.amu.Unlock()
	st := n.peers[p]
	if st == nil || !n.clock.Now().Before(st.expires) {
		return "", false
	}
	return st.account, true
}

// waitAdmitted waits up to AdmitTimeout (on the node's clock) for p to be
// admitted.
func (n *Node) waitAdmitted(ctx context.Context, p peer.ID) error {
	n.amu.Lock()
	if n.closed {
		n.amu.Unlock()
		return ErrClosed
	}
	st := n.peerStateLocked(p)
	if n.clock.Now().Before(st.expires) {
		n.amu.Unlock()
		return nil
	}
	if st.readyClosed { // admitted once, expired since
		st.ready, st.readyClosed = make(chan struct{}), false
	}
	ready := st.ready
	n.amu.Unlock()

	timeout := make(chan struct{})
	t := n.clock.AfterFunc(n.opts.AdmitTimeout, func() { close(timeout) })
	defer t.Stop()
	select {
	case <-ready:
		if n.isAdmitted(p) {
			return nil
		}
		return fmt.Errorf("%w: ticket expired", ErrNotAdmitted)
	case <-timeout:
		return fmt.Errorf("%w: no valid ticket within %v", ErrNotAdmitted, n.opts.AdmitTimeout)
	case <-ctx.Done():
		return ctx.Err()
	case <-n.ctx.Done():
		return ErrClosed
	}
}

// admittedHost is the host kad-dht sees: its inbound stream handlers and its
// outbound streams wait for the remote peer's admission, and give up (reset)
// if it does not come within AdmitTimeout.
type admittedHost struct {
	host.Host
	n *Node
}

var _ host.Host = (*admittedHost)(nil)

func (h *admittedHost) guard(handler network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		if err := h.n.waitAdmitted(h.n.ctx, s.Conn().RemotePeer()); err != nil {
			s.Reset()
			return
		}
		handler(s)
	}
}

func (h *admittedHost) SetStreamHandler(pid lp2pproto.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, h.guard(handler))
}

func (h *admittedHost) SetStreamHandlerMatch(pid lp2pproto.ID, m func(lp2pproto.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, m, h.guard(handler))
}

func (h *admittedHost) NewStream(ctx context.Context, p peer.ID, pids ...lp2pproto.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	if err := h.n.waitAdmitted(ctx, p); err != nil {
		s.Reset()
		return nil, err
	}
	return s, nil
}

// errNoTicket: the peer sent an empty ticket and is not admitted (yet); it
// may still be admitted by its admission stream.
var errNoTicket = fmt.Errorf("%w: no ticket", ErrNotAdmitted)

// noDeadline clears a socket deadline.
var noDeadline time.Time

// realDeadline is a socket deadline d from now. Sockets live on real time
// whatever the node's Clock says.
func realDeadline(d time.Duration) time.Time { return time.Now().Add(d) }
