package shaper

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chorus-music/chorus/internal/clock"
)

// Options shape one node's uplink. The zero value shapes nothing.
type Options struct {
	// Delay is the one-way delay added to every packet sent. Zero: none.
	Delay time.Duration
	// Jitter adds a uniformly random extra delay in [0, Jitter) per
	// packet, without reordering. Zero: none.
	Jitter time.Duration
	// Loss is the probability in [0, 1) that a packet is dropped. Zero:
	// none.
	Loss float64
	// BytesPerSecond limits the send rate (each packet takes len/rate on
	// the link). Zero: unlimited.
	BytesPerSecond int64
	// MaxBacklog drops a packet that would wait longer than this for the
	// link behind earlier packets (tail drop). Zero means 500 ms. Only
	// matters with BytesPerSecond.
	MaxBacklog time.Duration
	// Seed seeds the RNG of loss and jitter, so a run is reproducible.
	// Zero is a valid seed.
	Seed int64
	// Clock tells the time and runs the delay line's timers. Nil means the
	// wall clock.
	Clock clock.Clock
	// Precise releases each packet within microseconds of its time: the
	// sender sleeps on a timer until PreciseSpin before the release, then
	// polls the clock (yielding the processor between polls). Go timers
	// can fire up to about a millisecond late, which a latency benchmark
	// would count as network delay; a simulation of many nodes should
	// leave this off, as the polling costs CPU while packets are due.
	Precise bool
}

// PreciseSpin is how long before a packet's release a Precise shaper
// stops sleeping and polls.
const PreciseSpin = 1500 * time.Microsecond

func (o Options) validate() (Options, error) {
	switch {
	case o.Delay < 0 || o.Jitter < 0 || o.MaxBacklog < 0:
		return o, fmt.Errorf("%w: negative duration", ErrBadOptions)
	case !(o.Loss >= 0 && o.Loss < 1):
		return o, fmt.Errorf("%w: Loss %v not in [0, 1)", ErrBadOptions, o.Loss)
	case o.BytesPerSecond < 0:
		return o, fmt.Errorf("%w: BytesPerSecond %d is negative", ErrBadOptions, o.BytesPerSecond)
	}
	if o.MaxBacklog == 0 {
		o.MaxBacklog = 500 * time.Millisecond
	}
	o.Clock = clock.Or(o.Clock)
	return o, nil
}

// Stats count a Conn's packets.
type Stats struct {
	Sent        uint64 // written to the socket
	Lost        uint64 // dropped by random loss
	Overflow    uint64 // dropped because the backlog was full
	WriteErrors uint64 // the socket refused a released packet
}

// Conn is a shaped net.PacketConn. Reads pass straight through; writes go
// through the delay line.
type Conn struct {
	pc   net.PacketConn
	opts Options
	clk  clock.Clock

	kick    chan struct{} // a packet was queued on an empty line
	tick    chan struct{} // the head packet's timer fired
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the sender goroutine exits
	once    sync.Once

	mu          sync.Mutex // guards the fields below
	rng         *rand.Rand
	queue       []packet // FIFO, release times non-decreasing
	head        int      // index of the first queued packet
	lastRelease time.Time
	linkFree    time.Time // when the link has sent everything queued so far
	closed      bool
	// free holds the buffers of packets already written, for WriteTo's
	// copies: a node sends thousands of packets a second, and a
	// simulation of a hundred nodes in one process would otherwise
	// allocate a new buffer for each, and collect them all together.
	free [][]byte

	sent, lost, overflow, writeErrs atomic.Uint64
}

type packet struct {
	b       []byte
	addr    net.Addr
	release time.Time
}

var _ net.PacketConn = (*Conn)(nil)

// Wrap shapes pc's writes with opts. The Conn owns pc: Close closes it.
func Wrap(pc net.PacketConn, opts Options) (*Conn, error) {
	if pc == nil {
		return nil, fmt.Errorf("%w: nil PacketConn", ErrBadOptions)
	}
	o, err := opts.validate()
	if err != nil {
		return nil, err
	}
	seed := uint64(o.Seed)
	c := &Conn{
		pc:      pc,
		opts:    o,
		clk:     o.Clock,
		kick:    make(chan struct{}, 1),
		tick:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	go c.run()
	return c, nil
}

// ListenUDP returns a function of the type quicreuse.OverrideListenUDP
// expects: it listens on a real UDP socket and shapes it with opts. Each
// socket gets its own RNG stream (Seed, Seed+1, ...).
func ListenUDP(opts Options) func(network string, laddr *net.UDPAddr) (net.PacketConn, error) {
	var n atomic.Int64
	return func(network string, laddr *net.UDPAddr) (net.PacketConn, error) {
		o := opts
		o.Seed += n.Add(1) - 1
		if _, err := o.validate(); err != nil {
			return nil, err
		}
		uc, err := net.ListenUDP(network, laddr)
		if err != nil {
			return nil, fmt.Errorf("shaper: listen %s %v: %w", network, laddr, err)
		}
		c, err := Wrap(uc, o)
		if err != nil {
			uc.Close()
			return nil, err
		}
		return c, nil
	}
}

// WriteTo queues p for addr in the delay line and returns at once, as a
// network would: a lost or overflowing packet is dropped silently.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, fmt.Errorf("shaper: write to %v: %w", addr, net.ErrClosed)
	}
	if c.opts.Loss > 0 && c.rng.Float64() < c.opts.Loss {
		c.lost.Add(1)
		return len(p), nil
	}
	depart := now
	if bps := c.opts.BytesPerSecond; bps > 0 {
		start := now
		if c.linkFree.After(start) {
			start = c.linkFree
		}
		if start.Sub(now) > c.opts.MaxBacklog {
			c.overflow.Add(1)
			return len(p), nil
		}
		depart = start.Add(time.Duration(float64(len(p)) / float64(bps) * float64(time.Second)))
		c.linkFree = depart
	}
	release := depart.Add(c.opts.Delay)
	if c.opts.Jitter > 0 {
		release = release.Add(time.Duration(c.rng.Int64N(int64(c.opts.Jitter))))
	}
	if release.Before(c.lastRelease) {
		release = c.lastRelease
	}
	c.lastRelease = release
	var b []byte
	if n := len(c.free); n > 0 && cap(c.free[n-1]) >= len(p) {
		b, c.free = c.free[n-1][:len(p)], c.free[:n-1]
	} else {
		b = make([]byte, len(p), max(len(p), packetCap))
	}
	copy(b, p)
	c.queue = append(c.queue, packet{b: b, addr: addr, release: release})
	if len(c.queue)-c.head == 1 {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// packetCap is the capacity of a packet buffer: a QUIC packet on a path of
// any common MTU fits.
const packetCap = 1500

// maxFree bounds Conn.free.
const maxFree = 256

// run is the sender goroutine: it writes each packet at its release time.
func (c *Conn) run() {
	defer close(c.done)
	var written []byte // the last packet's buffer, for c.free
	for {
		c.mu.Lock()
		if written != nil {
			if len(c.free) < maxFree && cap(written) <= packetCap {
				c.free = append(c.free, written)
			}
			written = nil
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		if c.head == len(c.queue) {
			c.queue, c.head = c.queue[:0], 0
			c.mu.Unlock()
			select {
			case <-c.kick:
			case <-c.closing:
				return
			}
			continue
		}
		pk := c.queue[c.head]
		wait := pk.release.Sub(c.clk.Now())
		if c.opts.Precise && wait > 0 && wait <= PreciseSpin {
			c.mu.Unlock()
			runtime.Gosched()
			continue
		}
		if c.opts.Precise && wait > 0 {
			wait -= PreciseSpin
		}
		if wait > 0 {
			c.mu.Unlock()
			t := c.clk.AfterFunc(wait, func() {
				select {
				case c.tick <- struct{}{}:
				default:
				}
			})
			select {
			case <-c.tick:
			case <-c.closing:
				t.Stop()
				return
			}
			continue
		}
		c.queue[c.head] = packet{}
		c.head++
		if c.head > 1024 && c.head*2 > len(c.queue) {
			n := copy(c.queue, c.queue[c.head:])
			clear(c.queue[n:])
			c.queue, c.head = c.queue[:n], 0
		}
		c.mu.Unlock()
		if _, err := c.pc.WriteTo(pk.b, pk.addr); err != nil {
			c.writeErrs.Add(1)
		} else {
			c.sent.Add(1)
		}
		written = pk.b
	}
}

// ReadFrom reads from the socket, unshaped.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) { return c.pc.ReadFrom(p) }

// Close drops every packet still in the delay line, stops the sender and
// closes the socket. It is safe to call more than once.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.queue, c.head = nil, 0
		c.mu.Unlock()
		close(c.closing)
		// Close the socket before waiting, so a sender blocked in a
		// socket write returns.
		err = c.pc.Close()
		<-c.done
	})
	return err
}

// Pending returns the number of packets waiting in the delay line.
func (c *Conn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) - c.head
}

// Stats returns the packet counters.
func (c *Conn) Stats() Stats {
	return Stats{Sent: c.sent.Load(), Lost: c.lost.Load(), Overflow: c.overflow.Load(), WriteErrors: c.writeErrs.Load()}
}

// LocalAddr returns the socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.pc.LocalAddr() }

// SetDeadline sets the socket's deadlines. Writes never block, so only the
// read deadline matters.
func (c *Conn) SetDeadline(t time.Time) error { return c.pc.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.pc.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline (for released packets).
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.pc.SetWriteDeadline(t) }

// SetReadBuffer sets the socket's receive buffer, if it has one.
func (c *Conn) SetReadBuffer(n int) error {
	if s, ok := c.pc.(interface{ SetReadBuffer(int) error }); ok {
		return s.SetReadBuffer(n)
	}
	return fmt.Errorf("shaper: SetReadBuffer on %T: %w", c.pc, errors.ErrUnsupported)
}

// SetWriteBuffer sets the socket's send buffer, if it has one.
func (c *Conn) SetWriteBuffer(n int) error {
	if s, ok := c.pc.(interface{ SetWriteBuffer(int) error }); ok {
		return s.SetWriteBuffer(n)
	}
	return fmt.Errorf("shaper: SetWriteBuffer on %T: %w", c.pc, errors.ErrUnsupported)
}

// SyscallConn returns the socket's raw conn (quic-go sets the DF bit and
// buffer sizes through it). It fails with ErrNoSyscallConn when the wrapped
// conn has none.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if s, ok := c.pc.(interface {
		SyscallConn() (syscall.RawConn, error)
	}); ok {
		return s.SyscallConn()
	}
	return nil, fmt.Errorf("%w (%T)", ErrNoSyscallConn, c.pc)
}
