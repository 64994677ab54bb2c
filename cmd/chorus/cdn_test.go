package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/origin"
)

// cdn stands in for a CDN in front of an origin that speaks no HTTP/3:
// HTTPS over TCP alone (HTTP/2 and HTTP/1.1), passing each request on to
// the origin. It is not one of ours, so the test may build it.
type cdn struct {
	url        string
	h2, others atomic.Int64 // requests by protocol
}

// startCDN fronts the site's origin with the origin's own dev certificate
// (so clients that trust the site's CA trust it) on a TCP port of its own.
func startCDN(t *testing.T, s *swarmSite) *cdn {
	t.Helper()
	dir := filepath.Join(s.data, "tls")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, origin.DevCertFile), filepath.Join(dir, origin.DevCertKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := origin.LoadCertPool(s.originCA)
	if err != nil {
		t.Fatal(err)
	}
	back := origin.NewHTTP2Client(roots)
	t.Cleanup(func() { origin.CloseClient(back) })
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "https", Host: s.originAt})
	proxy.Transport = back.Transport
	c := &cdn{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.url = "https://" + ln.Addr().String()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 2 {
				c.h2.Add(1)
			} else {
				c.others.Add(1)
			}
			proxy.ServeHTTP(w, r)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return c
}

// TestPlayThroughAnHTTP2OnlyCDN: with the tracker listing a CDN that
// speaks no HTTP/3 as the origin, `chorus play` at its default
// --origin-proto (auto) plays the whole track from it over HTTP/2.
func TestPlayThroughAnHTTP2OnlyCDN(t *testing.T) {
	t.Parallel()
	s := newSwarmSite(t, "alice")
	c := startCDN(t, s)
	s.tracker.stop()
	for i, a := range s.trackerArgs {
		if a == "https://"+s.originAt {
			s.trackerArgs[i] = c.url
		}
	}
	s.startTracker()
	p, out := s.startPlay("play through the CDN", "alice", t.TempDir(), true, "--give-up", "20s")
	st := s.expectSuccess(p, out)
	if got := st.BytesBySource[client.KindOrigin]; got != int64(len(s.want)) {
		t.Errorf("%d bytes from the origin; want all %d, through the CDN", got, len(s.want))
	}
	if c.h2.Load() == 0 || c.others.Load() != 0 {
		t.Errorf("the CDN served %d requests over HTTP/2 and %d otherwise; want some, all HTTP/2", c.h2.Load(), c.others.Load())
	}
}
