package origin

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// listenTries bounds how many TCP ports Listen tries when asked for port 0
// and the UDP side of the chosen number is taken.
const listenTries = 16

// Listeners are an origin's two sockets on one port number: UDP for HTTP/3,
// TCP for HTTPS with HTTP/1.1 and HTTP/2.
type Listeners struct {
	UDP net.PacketConn
	TCP net.Listener
}

// Listen opens UDP and TCP sockets on addr ("host:port"). With port 0 it
// lets the kernel pick a TCP port and binds UDP to the same number, trying
// again with another port if that UDP port is taken.
func Listen(addr string) (*Listeners, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("origin: listen address %q: %w", addr, err)
	}
	if port != "0" && port != "" {
		return listenPair(host, port)
	}
	var last error
	for range listenTries {
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("origin: listen tcp %s: %w", addr, err)
		}
		p := strconv.Itoa(tcp.Addr().(*net.TCPAddr).Port)
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, p))
		if err == nil {
			return &Listeners{UDP: udp, TCP: tcp}, nil
		}
		tcp.Close()
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("origin: listen udp %s: %w", net.JoinHostPort(host, p), err)
		}
		last = err
	}
	return nil, fmt.Errorf("origin: no port free for both tcp and udp on %q after %d tries: %w", host, listenTries, last)
}

func listenPair(host, port string) (*Listeners, error) {
	addr := net.JoinHostPort(host, port)
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("origin: listen tcp %s: %w", addr, err)
	}
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("origin: listen udp %s: %w", addr, err)
	}
	return &Listeners{UDP: udp, TCP: tcp}, nil
}

// Port returns the port number both sockets share.
func (l *Listeners) Port() int { return l.TCP.Addr().(*net.TCPAddr).Port }

// URL returns the origin's base URL, e.g. "https://127.0.0.1:4433". An
// unspecified listen host (0.0.0.0, ::, empty) is given as loopback.
func (l *Listeners) URL() string { return baseURL(l.TCP.Addr()) }

// Close closes both sockets.
func (l *Listeners) Close() error {
	return errors.Join(l.UDP.Close(), l.TCP.Close())
}

// baseURL is "https://host:port" for a listening address.
func baseURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// Go listens dual-stack on an unspecified address.
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// portOf returns the port of a UDP or TCP address, 0 if it has none.
func portOf(a net.Addr) int {
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	return p
}
