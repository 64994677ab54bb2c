package shaper

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
)

// Compile-time check: ListenUDP has the function type OverrideListenUDP takes.
var _ = quicreuse.OverrideListenUDP(ListenUDP(Options{}))

func shapedHost(t *testing.T, opts Options) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.NoTransports,
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.QUICReuse(quicreuse.NewConnManager, quicreuse.OverrideListenUDP(ListenUDP(opts))),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableMetrics(),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatalf("libp2p.New = %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestLibp2pOverShapedLinks connects two libp2p QUIC hosts whose sockets
// are shaped with 20 ms one-way delay each: libp2p ping measures at least a
// 40 ms round trip, and Connect (QUIC handshake plus identify) at least two.
func TestLibp2pOverShapedLinks(t *testing.T) {
	const oneWay = 20 * time.Millisecond
	a := shapedHost(t, Options{Delay: oneWay, Seed: 1})
	b := shapedHost(t, Options{Delay: oneWay, Seed: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatalf("Connect = %v", err)
	}
	connect := time.Since(start)
	if connect < 2*oneWay {
		t.Errorf("Connect took %v; want >= %v", connect, 2*oneWay)
	}
	res := <-ping.Ping(ctx, a, b.ID())
	if res.Error != nil {
		t.Fatalf("ping = %v", res.Error)
	}
	if res.RTT < 2*oneWay {
		t.Errorf("ping RTT = %v; want >= %v", res.RTT, 2*oneWay)
	}
	t.Logf("Connect %v, ping RTT %v", connect, res.RTT)
}
