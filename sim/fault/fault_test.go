package fault

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/chorus-music/chorus/protocol"
)

// pipeStream is the part of a network.Stream the wrappers use.
type pipeStream struct {
	network.Stream // nil: other methods are not called
	r              io.Reader
	w              bytes.Buffer
}

func (s *pipeStream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *pipeStream) Write(p []byte) (int, error) { return s.w.Write(p) }

func frames(t *testing.T, msgs ...protocol.Message) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, m := range msgs {
		if err := protocol.WriteMessage(&b, m); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestStallDropsRequests(t *testing.T) {
	in := frames(t, &protocol.Hello{Version: 1}, &protocol.Request{ID: 1, CID: []byte("c")}, &protocol.Cancel{ID: 1}, &protocol.Request{ID: 2, CID: []byte("d")})
	s := Stall(&pipeStream{r: bytes.NewReader(in)})
	br := bufio.NewReader(s)
	var got []protocol.Message
	for {
		m, err := protocol.ReadMessage(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if len(got) != 2 {
		t.Fatalf("read %d frames through Stall; want 2 (Hello, Cancel)", len(got))
	}
	if _, ok := got[0].(*protocol.Hello); !ok {
		t.Errorf("first frame %T; want *Hello", got[0])
	}
	if _, ok := got[1].(*protocol.Cancel); !ok {
		t.Errorf("second frame %T; want *Cancel", got[1])
	}
}

func TestCorruptFlipsChunkData(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 1000)
	out := frames(t, &protocol.Hello{Version: 1}, &protocol.Response{ID: 3, Status: protocol.StatusOK, Data: data}, &protocol.Response{ID: 4, Status: protocol.StatusBusy})
	ps := &pipeStream{}
	s := Corrupt(ps)
	for i := range out { // one byte at a time: frames cut anywhere
		if n, err := s.Write(out[i : i+1]); n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	br := bufio.NewReader(&ps.w)
	if m, err := protocol.ReadMessage(br); err != nil || m.(*protocol.Hello).Version != 1 {
		t.Fatalf("first frame %v, %v; want the Hello unchanged", m, err)
	}
	m, err := protocol.ReadMessage(br)
	if err != nil {
		t.Fatal(err)
	}
	got := m.(*protocol.Response)
	if diff := countDiff(got.Data, data); got.ID != 3 || len(got.Data) != len(data) || diff != 1 {
		t.Errorf("chunk response: id %d, %d bytes, %d differ; want id 3, %d bytes, 1 differing", got.ID, len(got.Data), diff, len(data))
	}
	if m, err := protocol.ReadMessage(br); err != nil || m.(*protocol.Response).Status != protocol.StatusBusy {
		t.Fatalf("third frame %v, %v; want the Busy answer unchanged", m, err)
	}
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}
