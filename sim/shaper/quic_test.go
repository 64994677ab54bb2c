package shaper

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}

// TestQUICOverShapedLinks runs a quic-go handshake and a stream round trip
// between two shaped sockets with 20 ms one-way delay each: the handshake
// takes at least one 40 ms round trip, and quic-go measures an RTT of at
// least 40 ms. This proves quic-go works over the wrapper end to end.
func TestQUICOverShapedLinks(t *testing.T) {
	const oneWay = 20 * time.Millisecond
	listen := ListenUDP(Options{Delay: oneWay, Jitter: 2 * time.Millisecond, Seed: 1})
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	spc, err := listen("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	defer spc.Close()
	cpc, err := listen("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	defer cpc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := quic.Listen(spc, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{"shaper-test"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			serverErr <- err
			return
		}
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			serverErr <- err
			return
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(str, buf); err != nil {
			serverErr <- err
			return
		}
		_, err = str.Write(buf)
		str.Close()
		serverErr <- err
	}()

	start := time.Now()
	conn, err := quic.Dial(ctx, cpc, spc.LocalAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"shaper-test"}}, nil)
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	defer conn.CloseWithError(0, "")
	handshake := time.Since(start)
	if handshake < 2*oneWay {
		t.Errorf("handshake took %v; want >= %v", handshake, 2*oneWay)
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pingAt := time.Now()
	if _, err := str.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(str, buf); err != nil {
		t.Fatalf("stream Read = %v", err)
	}
	if rtt := time.Since(pingAt); rtt < 2*oneWay {
		t.Errorf("stream round trip %v; want >= %v", rtt, 2*oneWay)
	}
	if err := <-serverErr; err != nil {
		t.Fatalf("server: %v", err)
	}
	if min := conn.ConnectionStats().MinRTT; min < 2*oneWay {
		t.Errorf("quic-go MinRTT = %v; want >= %v", min, 2*oneWay)
	}
	t.Logf("handshake %v, quic-go MinRTT %v", handshake, conn.ConnectionStats().MinRTT)
}

// TestQUICThroughputLimited moves 1 MiB over quic-go through a 2 MB/s
// shaped uplink with 10 ms delay: the transfer is never faster than the
// limit, and quic-go's congestion control copes with the tail-drop queue
// (it finishes in well under the 10x slack bound).
func TestQUICThroughputLimited(t *testing.T) {
	const bps, total = 2_000_000, 1 << 20
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	spc, err := ListenUDP(Options{Delay: 10 * time.Millisecond, Seed: 1})("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	defer spc.Close()
	cpc, err := ListenUDP(Options{Delay: 10 * time.Millisecond, BytesPerSecond: bps, Seed: 2})("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	defer cpc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ln, err := quic.Listen(spc, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{"shaper-test"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan error, 1)
	var done time.Time
	go func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			got <- err
			return
		}
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			got <- err
			return
		}
		n, err := io.Copy(io.Discard, str)
		done = time.Now()
		if err == nil && n != total {
			err = io.ErrUnexpectedEOF
		}
		got <- err
	}()
	conn, err := quic.Dial(ctx, cpc, spc.LocalAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"shaper-test"}}, nil)
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := str.Write(make([]byte, total)); err != nil {
		t.Fatal(err)
	}
	str.Close()
	if err := <-got; err != nil {
		t.Fatalf("server read = %v", err)
	}
	took := done.Sub(start)
	min := time.Duration(float64(total) / bps * float64(time.Second))
	if took < min || took > 10*min {
		t.Errorf("1 MiB over a %d B/s link took %v; want between %v and %v", bps, took, min, 10*min)
	}
	st := cpc.(*Conn).Stats()
	t.Logf("took %v (%.2f MB/s); client uplink stats %+v", took, float64(total)/took.Seconds()/1e6, st)
}
