package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/internal/clock"
)

// startTCPOnlyOrigin serves a fresh store over HTTP/1.1 and 2 alone, as an
// origin behind a CDN without HTTP/3 looks: its UDP port is closed.
func startTCPOnlyOrigin(t *testing.T) *testOrigin {
	t.Helper()
	srv, store, roots := newTestServer(t)
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.UDP.Close()
	ctx, cancel := context.WithCancel(context.Background())
	o := &testOrigin{store: store, srv: srv, url: l.URL(), port: l.Port(), roots: roots, cancel: cancel, done: make(chan error, 1)}
	go func() { o.done <- srv.Serve(ctx, nil, l.TCP) }()
	t.Cleanup(func() {
		if err := o.stop(); err != nil {
			t.Errorf("Serve = %v; want nil", err)
		}
	})
	return o
}

func newTestAutoClient(t *testing.T, o *testOrigin, clk clock.Clock) (*http.Client, *autoTransport) {
	t.Helper()
	tr := newAutoTransport(o.roots, clk, DefaultFallbackDelay, DefaultHTTP2Stay)
	c := &http.Client{Transport: tr}
	t.Cleanup(func() { CloseClient(c) })
	return c, tr
}

func (t *autoTransport) learned(host string) hostProto {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hosts[host]
}

// getProto GETs /healthz and returns the protocol it was answered over.
func getProto(c *http.Client, base string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	return resp.ProtoMajor, nil
}

func mustProto(t *testing.T, c *http.Client, base string) int {
	t.Helper()
	p, err := getProto(c, base)
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	return p
}

// protoResult is getProto's answer, from another goroutine.
type protoResult struct {
	proto int
	err   error
}

func goProto(c *http.Client, base string) <-chan protoResult {
	ch := make(chan protoResult, 1)
	go func() {
		p, err := getProto(c, base)
		ch <- protoResult{p, err}
	}()
	return ch
}

// waitArmed returns once clk has n timers armed.
func waitArmed(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for clk.Pending() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers armed; want %d", clk.Pending(), n)
		}
		runtime.Gosched()
	}
}

// TestClientSpeaksHTTP3First: an origin that answers HTTP/3 is answered
// over it without HTTP/2 being tried (the fallback timer is never
// advanced), and is then asked over HTTP/3 alone.
func TestClientSpeaksHTTP3First(t *testing.T) {
	o := startOrigin(t, nil)
	clk := clock.NewFake(time.Unix(1e9, 0))
	c, tr := newTestAutoClient(t, o, clk)
	if p := mustProto(t, c, o.url); p != 3 {
		t.Fatalf("answered over HTTP/%d; want 3", p)
	}
	host := strings.TrimPrefix(o.url, "https://")
	if hp := tr.learned(host); !hp.h3Works {
		t.Errorf("learned %+v; want HTTP/3 known to work", hp)
	}
	if p := mustProto(t, c, o.url); p != 3 || clk.Pending() != 0 {
		t.Errorf("second request over HTTP/%d with %d timers armed; want 3 and none", p, clk.Pending())
	}
}

// TestClientFallsBackToHTTP2: an origin without HTTP/3 is answered over
// HTTP/2 once HTTP/3's head start is over, is asked over HTTP/2 alone
// for DefaultHTTP2Stay, and then gets HTTP/3 its head start again.
func TestClientFallsBackToHTTP2(t *testing.T) {
	o := startTCPOnlyOrigin(t)
	clk := clock.NewFake(time.Unix(1e9, 0))
	c, tr := newTestAutoClient(t, o, clk)
	host := strings.TrimPrefix(o.url, "https://")

	got := goProto(c, o.url)
	waitArmed(t, clk, 1) // HTTP/3 has its head start; nothing answers it
	select {
	case r := <-got:
		t.Fatalf("answered (HTTP/%d, %v) before the head start ended", r.proto, r.err)
	default:
	}
	clk.Advance(DefaultFallbackDelay)
	if r := <-got; r.err != nil || r.proto != 2 {
		t.Fatalf("answered over HTTP/%d, %v; want 2", r.proto, r.err)
	}
	if hp := tr.learned(host); hp.h3Works || !hp.h2Until.Equal(clk.Now().Add(DefaultHTTP2Stay)) {
		t.Errorf("learned %+v; want HTTP/2 alone for %v", hp, DefaultHTTP2Stay)
	}
	if p := mustProto(t, c, o.url); p != 2 || clk.Pending() != 0 {
		t.Errorf("second request over HTTP/%d with %d timers armed; want 2 and none", p, clk.Pending())
	}

	clk.Advance(DefaultHTTP2Stay)
	got = goProto(c, o.url)
	waitArmed(t, clk, 1)
	clk.Advance(DefaultFallbackDelay)
	if r := <-got; r.err != nil || r.proto != 2 {
		t.Errorf("after the stay, answered over HTTP/%d, %v; want 2", r.proto, r.err)
	}
}

// TestClientUntrustedNamesBoth: a certificate that does not verify fails
// HTTP/3 at once; HTTP/2 is tried without waiting out the head start, and
// the error keeps both failures for errors.As.
func TestClientUntrustedNamesBoth(t *testing.T) {
	o := startOrigin(t, nil)
	clk := clock.NewFake(time.Unix(1e9, 0))
	tr := newAutoTransport(nil, clk, DefaultFallbackDelay, DefaultHTTP2Stay) // system roots: the dev CA is unknown
	c := &http.Client{Transport: tr}
	defer CloseClient(c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.url+"/healthz", nil)
	_, err := c.Do(req)
	var cv *tls.CertificateVerificationError
	if err == nil || !errors.As(err, &cv) || !strings.Contains(err.Error(), "HTTP/3: ") || !strings.Contains(err.Error(), "HTTP/2: ") {
		t.Fatalf("GET with an unknown CA = %v; want both protocols' certificate errors", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("error %T is not a *url.Error", err)
	}
	if hp := tr.learned(strings.TrimPrefix(o.url, "https://")); hp != (hostProto{}) {
		t.Errorf("learned %+v from two failures; want nothing", hp)
	}
}
