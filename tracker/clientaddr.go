package tracker

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the client's IP address: the connection's peer, unless the
// peer is a trusted proxy, in which case X-Forwarded-For is read from the
// right (the entry the nearest proxy appended) and the first address that
// is not a trusted proxy is the client. A header from an untrusted peer is
// ignored (it is the client's to forge); so is anything a trusted proxy
// relayed from further left than the first untrusted address. An entry
// that does not parse stops the walk at the proxy that relayed it. via is
// the connection's peer address when the client address came from the
// header, else empty.
func (s *Server) clientAddr(r *http.Request) (client netip.Addr, via string) {
	peer, ok := addrOf(r.RemoteAddr)
	if !ok || !s.trusted(peer) {
		return peer, ""
	}
	hops := forwardedFor(r.Header)
	client = peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		client = a.Unmap()
		if !s.trusted(client) {
			break
		}
	}
	if client == peer {
		return peer, ""
	}
	return client, r.RemoteAddr
}

// forwardedFor lists X-Forwarded-For entries in order, across repeated
// headers.
func forwardedFor(h http.Header) []string {
	var out []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// addrOf parses the IP of a "host:port" (or bare IP) remote address.
func addrOf(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), true
	}
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// networkOf is the unit login throttling counts by: an IPv4 address, or an
// IPv6 /64 (one subscriber's usual allocation, so rotating addresses
// within it does not buy more guesses). An unparsable address counts as
// one network of its own.
func networkOf(a netip.Addr, ok bool) string {
	switch {
	case !ok:
		return "unknown"
	case a.Is4():
		return a.String()
	default:
		p, _ := a.Prefix(64)
		return p.String()
	}
}
