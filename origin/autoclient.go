package origin

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/chorus-music/chorus/internal/clock"
)

// Defaults of NewClient.
const (
	// DefaultFallbackDelay is how long a request waits for HTTP/3 before
	// HTTP/2 over TCP is tried beside it, as Happy Eyeballs (RFC 8305)
	// waits for its preferred family: far beyond an HTTP/3 handshake and
	// answer on a working path, short enough that a listener behind a
	// network that drops UDP, or an origin behind a CDN that speaks no
	// HTTP/3, barely notices.
	DefaultFallbackDelay = 300 * time.Millisecond
	// DefaultHTTP2Stay is how long an origin that answered only over
	// HTTP/2 is asked over HTTP/2 alone before HTTP/3 is tried again.
	DefaultHTTP2Stay = 5 * time.Minute
)

// NewClient returns the client a listener reaches origins with, trusting
// roots (nil means the system roots): HTTP/3 first and, for an origin whose
// HTTP/3 does not answer within DefaultFallbackDelay (UDP blocked on the
// way, or a CDN in front that speaks only HTTP/2), HTTP/2 over TLS raced
// beside it; the first answer wins and the other attempt is cancelled. An
// origin that answered over HTTP/2 while HTTP/3 did not is asked over
// HTTP/2 alone for DefaultHTTP2Stay; one that answered over HTTP/3 is
// asked over HTTP/3 alone until a request fails. Only requests without a
// body (GET, HEAD) are raced. Release it with CloseClient.
func NewClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Transport: newAutoTransport(roots, clock.Real{}, DefaultFallbackDelay, DefaultHTTP2Stay)}
}

// autoTransport is NewClient's transport.
type autoTransport struct {
	h3    *http3.Transport
	h2    *http.Transport
	clock clock.Clock
	delay time.Duration // HTTP/3's head start
	stay  time.Duration // see DefaultHTTP2Stay

	mu    sync.Mutex // guards hosts
	hosts map[string]hostProto
}

// hostProto is what an autoTransport learned of one origin (host:port).
type hostProto struct {
	h3Works bool      // the last request went through over HTTP/3
	h2Until time.Time // ask over HTTP/2 alone until then
}

func newAutoTransport(roots *x509.CertPool, clk clock.Clock, delay, stay time.Duration) *autoTransport {
	return &autoTransport{
		h3:    NewHTTP3Client(roots).Transport.(*http3.Transport),
		h2:    NewHTTP2Client(roots).Transport.(*http.Transport),
		clock: clk,
		delay: delay,
		stay:  stay,
		hosts: map[string]hostProto{},
	}
}

// Close closes the HTTP/3 transport (and its UDP socket) and the HTTP/2
// transport's idle connections (CloseClient).
func (t *autoTransport) Close() error {
	t.h2.CloseIdleConnections()
	return t.h3.Close()
}

// CloseIdleConnections closes both transports' idle connections.
func (t *autoTransport) CloseIdleConnections() {
	t.h2.CloseIdleConnections()
	t.h3.CloseIdleConnections()
}

// RoundTrip implements http.RoundTripper.
func (t *autoTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	t.mu.Lock()
	hp := t.hosts[host]
	t.mu.Unlock()
	switch {
	case t.clock.Now().Before(hp.h2Until):
		return t.h2.RoundTrip(req)
	case hp.h3Works || (req.Body != nil && req.Body != http.NoBody):
		resp, err := t.h3.RoundTrip(req)
		if err != nil && req.Context().Err() == nil {
			t.learn(host, hostProto{}) // race again next time
		}
		return resp, err
	}
	return t.race(req, host)
}

func (t *autoTransport) learn(host string, hp hostProto) {
	t.mu.Lock()
	t.hosts[host] = hp
	t.mu.Unlock()
}

// attempt is one protocol's answer in a race.
type attempt struct {
	h3   bool
	resp *http.Response
	err  error
}

// race asks over HTTP/3 and, after the fallback delay or as soon as HTTP/3
// fails, over HTTP/2 too; it returns the first answer, cancels the other
// attempt and closes whatever that still brings.
func (t *autoTransport) race(req *http.Request, host string) (*http.Response, error) {
	ctx := req.Context()
	answers := make(chan attempt, 2)
	cancels := map[bool]context.CancelFunc{} // by h3
	pending := 0                             // attempts in flight
	start := func(h3 bool) {
		if _, ok := cancels[h3]; ok || (!h3 && ctx.Err() != nil) {
			return // started already, or no point
		}
		actx, cancel := context.WithCancel(ctx)
		cancels[h3] = cancel
		pending++
		var rt http.RoundTripper = t.h2
		if h3 {
			rt = t.h3
		}
		go func() {
			resp, err := rt.RoundTrip(req.Clone(actx))
			answers <- attempt{h3: h3, resp: resp, err: err}
		}()
	}
	start(true)
	fallback := make(chan struct{})
	timer := t.clock.AfterFunc(t.delay, func() { close(fallback) })
	defer timer.Stop()

	var err3, err2 error
	for {
		select {
		case <-fallback:
			fallback = nil
			start(false)
		case a := <-answers:
			pending--
			if a.err == nil {
				if other, ok := cancels[!a.h3]; ok {
					other()
					if pending > 0 {
						go drain(answers) // the loser's answer, when it comes
					}
				}
				if a.h3 {
					t.learn(host, hostProto{h3Works: true})
				} else {
					t.learn(host, hostProto{h2Until: t.clock.Now().Add(t.stay)})
				}
				a.resp.Body = &cancelBody{ReadCloser: a.resp.Body, cancel: cancels[a.h3]}
				return a.resp, nil
			}
			cancels[a.h3]()
			if a.h3 {
				err3 = a.err
				start(false) // no point waiting out the head start
			} else {
				err2 = a.err
			}
			if pending == 0 {
				if err2 == nil {
					return nil, err3
				}
				return nil, fmt.Errorf("HTTP/3: %w; HTTP/2: %w", err3, err2)
			}
		}
	}
}

// drain closes the body of the losing attempt's answer.
func drain(answers <-chan attempt) {
	if a := <-answers; a.err == nil {
		a.resp.Body.Close()
	}
}

// cancelBody releases the winning attempt's context when its body is
// closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
