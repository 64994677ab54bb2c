package shaper

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/chorus-music/chorus/internal/clock"
)

// udpPair returns a shaped sender socket and a plain receiver socket on
// 127.0.0.1.
func udpPair(t *testing.T, opts Options) (*Conn, *net.UDPConn) {
	t.Helper()
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.SetReadBuffer(8 << 20)
	c, err := Wrap(a, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); b.Close() })
	return c, b
}

// memConn is a PacketConn that records writes on a channel.
type memConn struct {
	net.PacketConn // nil: only WriteTo and Close are used
	got            chan []byte
}

func (m *memConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	m.got <- append([]byte(nil), p...)
	return len(p), nil
}
func (m *memConn) Close() error        { return nil }
func (m *memConn) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{Delay: -1}, {Jitter: -1}, {Loss: 1}, {Loss: -0.1}, {BytesPerSecond: -5}, {MaxBacklog: -1},
	} {
		if _, err := Wrap(&memConn{got: make(chan []byte, 1)}, o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Wrap(%+v) = %v; want ErrBadOptions", o, err)
		}
	}
	if _, err := Wrap(nil, Options{}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Wrap(nil) = %v; want ErrBadOptions", err)
	}
}

// TestDelayNeverEarlyOrdered sends pings through a shaped socket with
// jitter: every one-way delay is at least Delay and the order is kept.
func TestDelayNeverEarlyOrdered(t *testing.T) {
	for _, precise := range []bool{false, true} {
		t.Run(fmt.Sprintf("precise=%v", precise), func(t *testing.T) { testDelayNeverEarlyOrdered(t, precise) })
	}
}

func testDelayNeverEarlyOrdered(t *testing.T, precise bool) {
	const delay, n = 20 * time.Millisecond, 300
	c, b := udpPair(t, Options{Delay: delay, Jitter: 15 * time.Millisecond, Seed: 7, Precise: precise})
	sentAt := make([]time.Time, n)
	done := make(chan error, 1)
	type rx struct {
		seq int
		at  time.Time
	}
	var got []rx
	go func() {
		buf := make([]byte, 64)
		_ = b.SetReadDeadline(time.Now().Add(20 * time.Second))
		for len(got) < n {
			k, _, err := b.ReadFrom(buf)
			if err != nil {
				done <- err
				return
			}
			got = append(got, rx{int(binary.BigEndian.Uint32(buf[:k])), time.Now()})
		}
		done <- nil
	}()
	var msg [4]byte
	for i := range n {
		binary.BigEndian.PutUint32(msg[:], uint32(i))
		sentAt[i] = time.Now()
		if _, err := c.WriteTo(msg[:], b.LocalAddr()); err != nil {
			t.Fatalf("WriteTo = %v", err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("received %d of %d packets: %v", len(got), n, err)
	}
	for i, r := range got {
		if r.seq != i {
			t.Fatalf("packet %d arrived as number %d; want order kept", r.seq, i)
		}
		if d := r.at.Sub(sentAt[r.seq]); d < delay {
			t.Errorf("packet %d one-way delay %v; want >= %v", r.seq, d, delay)
		}
	}
}

// TestJitterReleaseOrder checks the delay line's schedule itself on a clock
// that never moves: release times never decrease, each at least
// send+Delay, and below send+Delay+Jitter unless held back by the packet
// before.
func TestJitterReleaseOrder(t *testing.T) {
	fake := clock.NewFake(time.Unix(1000, 0))
	m := &memConn{got: make(chan []byte, 1)}
	const delay, jitter = 10 * time.Millisecond, 50 * time.Millisecond
	c, err := Wrap(m, Options{Delay: delay, Jitter: jitter, Seed: 3, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 1000 {
		if _, err := c.WriteTo([]byte{1}, m.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	start := fake.Now()
	var prev time.Time
	held := 0
	for i, p := range c.queue[c.head:] {
		if p.release.Before(prev) {
			t.Fatalf("packet %d released at %v before packet %d at %v", i, p.release, i-1, prev)
		}
		if p.release.Before(start.Add(delay)) {
			t.Fatalf("packet %d released %v after send; want >= %v", i, p.release.Sub(start), delay)
		}
		if p.release.Equal(prev) {
			held++
		}
		prev = p.release
	}
	if got := prev.Sub(start); got >= delay+jitter {
		t.Errorf("last release %v after send; want < %v", got, delay+jitter)
	}
	if held == 0 {
		t.Error("no packet held back behind an earlier one; jitter did not act")
	}
}

// TestLossRate drops about Loss of 10,000 packets, reproducibly for a seed.
func TestLossRate(t *testing.T) {
	const n, loss = 10_000, 0.1
	count := func(seed int64) Stats {
		m := &memConn{got: make(chan []byte, n)}
		c, err := Wrap(m, Options{Loss: loss, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			if _, err := c.WriteTo([]byte{0}, m.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < n-int(c.Stats().Lost); i++ {
			select {
			case <-m.got:
			case <-time.After(10 * time.Second):
				t.Fatalf("only %d packets delivered", i)
			}
		}
		st := c.Stats()
		c.Close()
		return st
	}
	st := count(42)
	// Binomial(10000, 0.1): mean 1000, sd 30; allow 5 sd.
	if st.Lost < 850 || st.Lost > 1150 {
		t.Errorf("lost %d of %d at Loss %v; want 1000 ± 150", st.Lost, n, loss)
	}
	if st.Sent+st.Lost != n {
		t.Errorf("sent %d + lost %d; want %d", st.Sent, st.Lost, n)
	}
	if again := count(42); again.Lost != st.Lost {
		t.Errorf("seed 42 lost %d then %d; want the same", st.Lost, again.Lost)
	}
}

// TestBandwidthLimit sends 1 MiB through a 1 MB/s link over real sockets:
// it takes at least 1 MiB / 1 MB/s.
func TestBandwidthLimit(t *testing.T) {
	const bps, size, total = 1_000_000, 1000, 1 << 20
	c, b := udpPair(t, Options{BytesPerSecond: bps, MaxBacklog: 5 * time.Second})
	done := make(chan error, 1)
	var last time.Time
	var bytes int
	go func() {
		buf := make([]byte, 2048)
		_ = b.SetReadDeadline(time.Now().Add(30 * time.Second))
		for bytes < total-size {
			k, _, err := b.ReadFrom(buf)
			if err != nil {
				done <- err
				return
			}
			bytes += k
			last = time.Now()
		}
		done <- nil
	}()
	pkt := make([]byte, size)
	start := time.Now()
	sent := 0
	for sent < total {
		if _, err := c.WriteTo(pkt, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		sent += size
	}
	if err := <-done; err != nil {
		t.Fatalf("received %d of %d bytes: %v", bytes, sent, err)
	}
	want := time.Duration(float64(bytes) / bps * float64(time.Second))
	got := last.Sub(start)
	// Never faster than the limit; the upper bound leaves 10x slack for a
	// busy machine (TestBandwidthSchedule checks the schedule to 0.1%).
	if got < want || got > 10*want {
		t.Errorf("%d bytes took %v; want %v..%v", bytes, got, want, 10*want)
	}
	t.Logf("%d bytes in %v: %.3f MB/s (limit 1 MB/s)", bytes, got, float64(bytes)/got.Seconds()/1e6)
	if st := c.Stats(); st.Overflow != 0 {
		t.Errorf("overflow drops = %d; want 0", st.Overflow)
	}
}

// TestBandwidthSchedule checks the delay line's schedule for 1 MiB at
// 1 MB/s on a clock that never moves: the last packet leaves after
// 1 MiB / 1 MB/s (within 0.1%), each packet size/rate after the one before.
func TestBandwidthSchedule(t *testing.T) {
	const bps, size, total = 1_000_000, 1000, 1 << 20
	fake := clock.NewFake(time.Unix(1000, 0))
	m := &memConn{got: make(chan []byte, 1)}
	c, err := Wrap(m, Options{BytesPerSecond: bps, Delay: 5 * time.Millisecond, MaxBacklog: time.Minute, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := 0
	for sent < total {
		c.WriteTo(make([]byte, size), m.LocalAddr())
		sent += size
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue[c.head:]
	step := time.Duration(float64(size) / bps * float64(time.Second))
	for i := 1; i < len(q); i++ {
		if d := q[i].release.Sub(q[i-1].release); d != step {
			t.Fatalf("packet %d leaves %v after the one before; want %v", i, d, step)
		}
	}
	want := time.Duration(float64(sent)/bps*float64(time.Second)) + 5*time.Millisecond
	got := q[len(q)-1].release.Sub(fake.Now())
	if d := got - want; d < -want/1000 || d > want/1000 {
		t.Errorf("last of %d bytes released after %v; want %v (±0.1%%)", sent, got, want)
	}
}

// TestBacklogTailDrop drops what would wait longer than MaxBacklog.
func TestBacklogTailDrop(t *testing.T) {
	fake := clock.NewFake(time.Unix(1000, 0))
	m := &memConn{got: make(chan []byte, 1)}
	c, err := Wrap(m, Options{BytesPerSecond: 1000, MaxBacklog: time.Second, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 30 { // 100 bytes = 100 ms each; about 11 fit in 1 s of backlog
		c.WriteTo(make([]byte, 100), m.LocalAddr())
	}
	if st := c.Stats(); st.Overflow != 19 || c.Pending() != 11 {
		t.Errorf("overflow %d, pending %d; want 19, 11", st.Overflow, c.Pending())
	}
}

// TestCloseDiscardsPending: Close returns at once with packets queued for
// an hour, unblocks a pending read, and later writes fail.
func TestCloseDiscardsPending(t *testing.T) {
	c, b := udpPair(t, Options{Delay: time.Hour})
	for range 100 {
		if _, err := c.WriteTo([]byte("x"), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Pending(); got != 100 {
		t.Fatalf("Pending() = %d; want 100", got)
	}
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 10))
		readErr <- err
	}()
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s")
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom after Close = %v; want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadFrom still blocked 10s after Close")
	}
	if _, err := c.WriteTo([]byte("x"), b.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close = %v; want net.ErrClosed", err)
	}
	if st := c.Stats(); st.Sent != 0 || c.Pending() != 0 {
		t.Errorf("sent %d, pending %d after Close; want 0, 0", st.Sent, c.Pending())
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
}

// TestPassThrough checks the methods quic-go looks for.
func TestPassThrough(t *testing.T) {
	c, _ := udpPair(t, Options{})
	if err := c.SetReadBuffer(1 << 20); err != nil {
		t.Errorf("SetReadBuffer = %v", err)
	}
	if err := c.SetWriteBuffer(1 << 20); err != nil {
		t.Errorf("SetWriteBuffer = %v", err)
	}
	if _, err := c.SyscallConn(); err != nil {
		t.Errorf("SyscallConn = %v", err)
	}
	if c.LocalAddr().(*net.UDPAddr).Port == 0 {
		t.Error("LocalAddr has port 0")
	}
	m, err := Wrap(&memConn{got: make(chan []byte, 1)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.SyscallConn(); !errors.Is(err, ErrNoSyscallConn) {
		t.Errorf("SyscallConn on a conn without one = %v; want ErrNoSyscallConn", err)
	}
	if err := m.SetReadBuffer(1); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SetReadBuffer on a conn without one = %v; want ErrUnsupported", err)
	}
}

func TestListenUDP(t *testing.T) {
	listen := ListenUDP(Options{Delay: time.Millisecond})
	pc, err := listen("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, ok := pc.(*Conn); !ok {
		t.Errorf("ListenUDP returned %T; want *Conn", pc)
	}
	if _, err := ListenUDP(Options{Loss: 2})("udp4", nil); !errors.Is(err, ErrBadOptions) {
		t.Errorf("ListenUDP(bad options) = %v; want ErrBadOptions", err)
	}
}

// TestRecycledBuffersKeepEachPacket: the delay line copies each packet into
// a buffer of an earlier, already written one; every packet still arrives
// byte for byte, in waves whose sizes differ, while others are queued.
func TestRecycledBuffersKeepEachPacket(t *testing.T) {
	c, b := udpPair(t, Options{Delay: 5 * time.Millisecond})
	_ = b.SetReadDeadline(time.Now().Add(20 * time.Second))
	payload := func(wave, i int) []byte {
		n := 1 + (wave*389+i*97)%1400
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(wave*31 + i*7 + j)
		}
		return p
	}
	buf := make([]byte, 2048)
	for wave := range 4 {
		const n = 300
		for i := range n {
			if _, err := c.WriteTo(payload(wave, i), b.LocalAddr()); err != nil {
				t.Fatalf("WriteTo = %v", err)
			}
		}
		for i := range n {
			k, _, err := b.ReadFrom(buf)
			if err != nil {
				t.Fatalf("wave %d: received %d of %d packets: %v", wave, i, n, err)
			}
			if want := payload(wave, i); !bytes.Equal(buf[:k], want) {
				t.Fatalf("wave %d packet %d: got %d bytes, want %d bytes as sent", wave, i, k, len(want))
			}
		}
	}
}
