package node

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
)

// delayConn delays every outgoing datagram by d, in order (reordering would
// read as loss to QUIC). Reads pass through.
type delayConn struct {
	net.PacketConn
	d     time.Duration
	queue chan delayed
	once  sync.Once
	done  chan struct{}
}

type delayed struct {
	at   time.Time
	b    []byte
	addr net.Addr
}

func newDelayConn(pc net.PacketConn, d time.Duration) *delayConn {
	c := &delayConn{PacketConn: pc, d: d, queue: make(chan delayed, 4096), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *delayConn) run() {
	for {
		select {
		case p := <-c.queue:
			t := time.NewTimer(time.Until(p.at))
			select {
			case <-t.C:
			case <-c.done:
				t.Stop()
				return
			}
			_, _ = c.PacketConn.WriteTo(p.b, p.addr)
		case <-c.done:
			return
		}
	}
}

func (c *delayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	p := delayed{at: time.Now().Add(c.d), b: append([]byte(nil), b...), addr: addr}
	select {
	case c.queue <- p:
	case <-c.done:
		return 0, net.ErrClosed
	}
	return len(b), nil
}

func (c *delayConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.PacketConn.Close()
}

// SetReadBuffer and SetWriteBuffer pass through, as quic-go asks for them.
func (c *delayConn) SetReadBuffer(n int) error {
	if s, ok := c.PacketConn.(interface{ SetReadBuffer(int) error }); ok {
		return s.SetReadBuffer(n)
	}
	return nil
}

func (c *delayConn) SetWriteBuffer(n int) error {
	if s, ok := c.PacketConn.(interface{ SetWriteBuffer(int) error }); ok {
		return s.SetWriteBuffer(n)
	}
	return nil
}

// TestColdFetchRoundTrips measures a cold fetch (new connection) and a warm
// one with 25 ms injected one-way delay, against the round trip time. It
// logs the figures; the only assertion is a loose bound, since a busy
// machine adds its own delay: the design target is cold ~2 RTT, warm ~1 RTT.
func TestColdFetchRoundTrips(t *testing.T) {
	if testing.Short() {
		t.Skip("timing measurement")
	}
	const oneWay = 25 * time.Millisecond
	rtt := 2 * oneWay
	tr := newFakeTracker(t)
	shaped := func(o *Options) {
		o.ListenUDP = func(network string, laddr *net.UDPAddr) (net.PacketConn, error) {
			pc, err := net.ListenUDP(network, laddr)
			if err != nil {
				return nil, err
			}
			return newDelayConn(pc, oneWay), nil
		}
	}
	client, server := newTestNode(t, tr, shaped), newTestNode(t, tr, shaped)
	c1, d1 := server.store.put(t, catalog.ChunkSize)
	c2, d2 := server.store.put(t, catalog.ChunkSize)
	ctx := testCtx(t)

	start := time.Now()
	mustFetch(t, ctx, client, server.AddrInfo(), c1, d1)
	cold := time.Since(start)
	start = time.Now()
	mustFetch(t, ctx, client, server.AddrInfo(), c2, d2)
	warm := time.Since(start)
	t.Logf("RTT %v: cold fetch of 16 KiB %v (%.1f RTT), warm %v (%.1f RTT)",
		rtt, cold, float64(cold)/float64(rtt), warm, float64(warm)/float64(rtt))

	// For comparison, the naive way: host.NewStream on a fresh connection
	// (waits for identify, negotiates the protocol) then one request.
	other := newTestNode(t, tr, shaped)
	c3, _ := other.store.put(t, catalog.ChunkSize)
	client.AddAddrs(other.AddrInfo())
	start = time.Now()
	s, err := client.host.NewStream(ctx, other.ID(), protocol.ChunkProtocol)
	if err != nil {
		t.Fatalf("NewStream: %v", err)
	}
	defer s.Close()
	if err := protocol.WriteMessage(s, &protocol.Hello{Version: protocol.ChunkVersion, Ticket: client.ownTicket()}); err != nil {
		t.Fatal(err)
	}
	if err := protocol.WriteMessage(s, &protocol.Request{ID: 1, CID: c3.Bytes()}); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(s)
	for range 2 { // Hello, Response
		if _, err := protocol.ReadMessage(br); err != nil {
			t.Fatalf("naive read: %v", err)
		}
	}
	naive := time.Since(start)
	t.Logf("naive cold fetch (NewStream): %v (%.1f RTT)", naive, float64(naive)/float64(rtt))

	if cold < 2*rtt-5*time.Millisecond {
		t.Errorf("cold fetch %v faster than 2 RTT (%v): the delay line is not in the path", cold, 2*rtt)
	}
	if cold > 20*rtt {
		t.Errorf("cold fetch took %v; want about 2 RTT (%v), at most 10x that", cold, 2*rtt)
	}
}
