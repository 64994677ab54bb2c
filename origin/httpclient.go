package origin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// NewHTTP3Client returns a client that speaks only HTTP/3, trusting roots
// (nil means the system roots). Its Transport is an *http3.Transport, which
// owns a UDP socket: release it with CloseClient.
func NewHTTP3Client(roots *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13},
	}}
}

// NewHTTP2Client returns a client that speaks only HTTP/2 over TLS,
// trusting roots (nil means the system roots).
func NewHTTP2Client(roots *x509.CertPool) *http.Client {
	var protos http.Protocols
	protos.SetHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Protocols:           &protos,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// NewHTTP1Client returns a client that speaks only HTTP/1.1 over TLS,
// trusting roots (nil means the system roots).
func NewHTTP1Client(roots *x509.CertPool) *http.Client {
	var protos http.Protocols
	protos.SetHTTP1(true)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Protocols:           &protos,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// CloseClient releases what a client from this package holds: it closes
// an HTTP/3 transport (and its UDP socket), or the idle connections of any
// other transport.
func CloseClient(c *http.Client) error {
	if cl, ok := c.Transport.(io.Closer); ok {
		return cl.Close()
	}
	c.CloseIdleConnections()
	return nil
}

// Protocols names the clients NewClientFor builds, the values of a
// listener's --origin-proto: "auto" (NewClient, the default), "h3", "h2"
// and "h1".
const Protocols = "auto, h3, h2 or h1"

// ErrUnknownProtocol reports a protocol name NewClientFor does not know.
var ErrUnknownProtocol = errors.New("origin: unknown protocol")

// CheckProtocol reports whether NewClientFor knows proto, without
// building a client (a configuration's check).
func CheckProtocol(proto string) error {
	switch proto {
	case "", "auto", "h3", "h2", "h1":
		return nil
	}
	return fmt.Errorf("%w %q: want %s", ErrUnknownProtocol, proto, Protocols)
}

// NewClientFor returns the client for a protocol named as in Protocols
// ("" means auto), trusting roots (nil means the system roots).
func NewClientFor(proto string, roots *x509.CertPool) (*http.Client, error) {
	if err := CheckProtocol(proto); err != nil {
		return nil, err
	}
	switch proto {
	case "h3":
		return NewHTTP3Client(roots), nil
	case "h2":
		return NewHTTP2Client(roots), nil
	case "h1":
		return NewHTTP1Client(roots), nil
	}
	return NewClient(roots), nil
}
