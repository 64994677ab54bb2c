package fault

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/chorus-music/chorus/protocol"
)

// Stall wraps s so that the server reading it sees the peer's Hello and
// Cancel frames and the end of the stream, but never a Request: the peer's
// requests go unanswered until it gives up.
func Stall(s network.Stream) network.Stream {
	return &stallStream{Stream: s, br: bufio.NewReader(s)}
}

type stallStream struct {
	network.Stream
	br *bufio.Reader

	mu  sync.Mutex   // guards out (Read is called from one goroutine, but keep it safe)
	out bytes.Buffer // frames passed on, not yet read
}

// Read hands on the next frame that is not a Request.
func (s *stallStream) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.out.Len() == 0 {
		msg, err := protocol.ReadMessage(s.br)
		if err != nil {
			return 0, err
		}
		if _, ok := msg.(*protocol.Request); ok {
			continue
		}
		if err := protocol.WriteMessage(&s.out, msg); err != nil {
			return 0, err
		}
	}
	return s.out.Read(p)
}

// Corrupt wraps s so that every chunk the server writes to it has one byte
// flipped (the middle one). Other frames pass unchanged.
func Corrupt(s network.Stream) network.Stream {
	return &corruptStream{Stream: s}
}

type corruptStream struct {
	network.Stream

	mu      sync.Mutex // guards pending
	pending []byte     // written bytes that do not yet form a whole frame
}

// Write collects whole frames, corrupts responses and writes each frame on.
// It reports b as written once it is buffered.
func (s *corruptStream) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, b...)
	for {
		size, ok := frameSize(s.pending)
		if !ok {
			break // wait for the rest of the frame
		}
		msg, err := protocol.ReadMessage(bytes.NewReader(s.pending[:size]))
		if err != nil {
			return 0, err
		}
		s.pending = s.pending[size:]
		if resp, ok := msg.(*protocol.Response); ok && len(resp.Data) > 0 {
			resp.Data[len(resp.Data)/2] ^= 0xff
		}
		if err := protocol.WriteMessage(s.Stream, msg); err != nil {
			return 0, err
		}
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
	return len(b), nil
}

// frameSize returns the length of the whole frame at the start of b (type
// byte, uvarint payload length, payload), or false if b does not hold it
// all yet.
func frameSize(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 {
		// k == 0: the length is cut short; k < 0: it overflows, which
		// ReadMessage then reports.
		return len(b), k < 0
	}
	size := 1 + k + int(n)
	if n > uint64(len(b)) || len(b) < size {
		return 0, false
	}
	return size, true
}
