package tracker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/store"
)

// Bootstrap listing limits.
const (
	MaxBootstrapPeers = 10 // GET /v1/network lists at most this many announced peers
	MaxAnnounceAddrs  = 8  // addresses per announcement
	maxAddrLen        = 256
)

// parsePeerID accepts a libp2p peer ID in its canonical string form.
func parsePeerID(s string) (peer.ID, error) {
	id, err := peer.Decode(s)
	if err != nil || id.String() != s {
		return "", badRequest("peer_id %q is not a libp2p peer ID in canonical form", s)
	}
	return id, nil
}

// handleTicket issues a ticket admitting the given peer ID for the caller's
// account, signed by the current key, and records it (by group commit with
// concurrent requests' records) before answering.
func (s *Server) handleTicket(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[protocol.TicketRequest](r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := parsePeerID(req.PeerID); err != nil {
		s.writeError(w, r, err)
		return
	}
	sess := sessionFrom(r.Context())
	now := s.clock.Now()
	cur, err := s.keys.fresh(r.Context(), s.opts.KeyRefresh)
	if err != nil {
		s.log.WarnContext(r.Context(), "reload signing keys", slog.Any("err", err))
	}
	body := protocol.TicketBody{
		Version: protocol.TicketVersion, PeerID: req.PeerID, Account: sess.account,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(s.opts.TicketTTL).Unix(), KeyID: cur.ID,
	}
	t := protocol.SignTicket(body, cur.PrivateKey)
	if _, err := s.tickets.record(r.Context(), store.TicketRecord{
		PeerID: req.PeerID, Account: sess.account, KeyID: cur.ID,
		IssuedAt: time.Unix(body.IssuedAt, 0), ExpiresAt: time.Unix(body.ExpiresAt, 0),
	}); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.tickets.Inc()
	s.log.InfoContext(r.Context(), "ticket issued", slog.String("account", sess.account), slog.String("peer", req.PeerID))
	writeJSON(w, http.StatusOK, t)
}

// handleAnnounce records a bootstrap announcement. The caller's account must
// hold a live ticket this tracker issued for the announced peer ID: the
// tracker checks its own record of issued tickets, so a node announces with
// its session alone. The announcement is listed until its ticket expires
// or AnnounceTTL passes, whichever is first.
func (s *Server) handleAnnounce(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[protocol.AnnounceRequest](r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := parsePeerID(req.PeerID); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Addrs) == 0 || len(req.Addrs) > MaxAnnounceAddrs {
		s.writeError(w, r, badRequest("addrs must list 1..%d multiaddrs", MaxAnnounceAddrs))
		return
	}
	addrs := make([]string, 0, len(req.Addrs))
	for _, a := range req.Addrs {
		if len(a) > maxAddrLen {
			s.writeError(w, r, badRequest("multiaddr longer than %d bytes", maxAddrLen))
			return
		}
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			s.writeError(w, r, badRequest("bad multiaddr %q", a))
			return
		}
		if _, err := m.ValueForProtocol(ma.P_P2P); err == nil {
			s.writeError(w, r, badRequest("multiaddr %q must not include /p2p/", a))
			return
		}
		if !slices.Contains(addrs, m.String()) {
			addrs = append(addrs, m.String())
		}
	}
	sess := sessionFrom(r.Context())
	now := s.clock.Now()
	tk, err := s.store.LiveTicket(r.Context(), sess.account, req.PeerID, now)
	if errors.Is(err, store.ErrNotFound) {
		s.writeError(w, r, forbidden("no live ticket for this peer ID on this account; POST "+protocol.PathTicket+" first"))
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	expires := now.Add(s.opts.AnnounceTTL)
	if tk.ExpiresAt.Before(expires) {
		expires = tk.ExpiresAt
	}
	if err := s.store.PutAnnouncement(r.Context(), store.Announcement{
		PeerID: req.PeerID, Account: sess.account, Addrs: addrs, AnnouncedAt: now, ExpiresAt: expires,
	}); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "bootstrap announce", slog.String("account", sess.account),
		slog.String("peer", req.PeerID), slog.Int("addrs", len(addrs)))
	w.WriteHeader(http.StatusNoContent)
}

// handleNetwork lists the origins, then the always-on DHT servers
// (SetDHTServers) and up to MaxBootstrapPeers most recently announced,
// unexpired bootstrap peers, each address ending in /p2p/<id>: every node
// joins through the servers first.
func (s *Server) handleNetwork(w http.ResponseWriter, r *http.Request) {
	info, err := s.networkInfo(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// networkInfo is the network list: the origins, then the DHT servers and
// the announced bootstrap peers.
func (s *Server) networkInfo(ctx context.Context) (protocol.NetworkInfo, error) {
	anns, err := s.store.Announcements(ctx, s.clock.Now(), MaxBootstrapPeers)
	if err != nil {
		return protocol.NetworkInfo{}, err
	}
	s.mu.Lock()
	info := protocol.NetworkInfo{
		Origins:    append([]string{}, s.origins...),
		Bootstrap:  append([]string{}, s.servers...),
		DHTServers: append([]string(nil), s.servers...),
	}
	s.mu.Unlock()
	for _, a := range anns {
		for _, addr := range a.Addrs {
			info.Bootstrap = append(info.Bootstrap, addr+"/p2p/"+a.PeerID)
		}
	}
	return info, nil
}

// SetDHTServers sets the addresses (each ending in /p2p/<id>) of the
// always-on DHT servers that head the bootstrap list of GET /v1/network.
// The tracker package runs none itself (it imports no node code); the
// command that starts one beside the tracker sets them once it listens.
func (s *Server) SetDHTServers(addrs []string) {
	s.mu.Lock()
	s.servers = append([]string(nil), addrs...)
	s.mu.Unlock()
}

// Origins returns the origin base URLs GET /v1/network lists.
func (s *Server) Origins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{}, s.origins...)
}
