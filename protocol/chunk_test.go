package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
)

func TestChunkMessageRoundTripPipe(t *testing.T) {
	msgs := []Message{
		&Hello{Version: ChunkVersion, Ticket: []byte(`{"v":1}`)},
		&Hello{Version: 7, Ticket: []byte{}},
		&Request{ID: 1, CID: []byte{1, 85, 18, 32, 9}},
		&Request{ID: 1 << 40, CID: bytes.Repeat([]byte{7}, maxCIDSize)},
		&Response{ID: 1, Status: StatusOK, Data: bytes.Repeat([]byte{0xab}, MaxChunkData)},
		&Response{ID: 2, Status: StatusDontHave, Data: []byte{}},
		&Response{ID: 3, Status: StatusBusy, Data: []byte{}},
		&Cancel{ID: 99},
		&DatedRequest{ID: 4, Deadline: 0, CID: []byte{1, 85, 18, 32, 9}},
		&DatedRequest{ID: 1 << 50, Deadline: 1 << 60, CID: bytes.Repeat([]byte{7}, maxCIDSize)},
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	errc := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := WriteMessage(a, m); err != nil {
				errc <- err
				return
			}
		}
		errc <- a.Close()
	}()
	br := bufio.NewReader(b)
	for i, want := range msgs {
		got, err := ReadMessage(br)
		if err != nil {
			t.Fatalf("ReadMessage #%d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ReadMessage #%d = %T; want %T (or contents differ)", i, got, want)
		}
	}
	if _, err := ReadMessage(br); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadMessage after close = %v; want io.EOF", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

func TestChunkMessageWithoutByteReader(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		_ = WriteMessage(pw, &Request{ID: 5, CID: []byte{1, 2, 3}})
		pw.Close()
	}()
	got, err := ReadMessage(pr)
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if r, ok := got.(*Request); !ok || r.ID != 5 {
		t.Fatalf("ReadMessage = %#v; want Request ID 5", got)
	}
}

func TestReadChunkMessageErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"unknown type", []byte{9, 0}, ErrUnknownType},
		{"type zero", []byte{0, 0}, ErrUnknownType},
		{"too large", []byte{3, 0xff, 0xff, 0xff, 0x7f}, ErrFrameTooLarge},
		{"huge varint", []byte{3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed},
		{"short header", []byte{3}, io.ErrUnexpectedEOF},
		{"short payload", []byte{3, 5, 1}, io.ErrUnexpectedEOF},
		{"empty payload", []byte{4, 0}, ErrMalformed},
		{"response without status", []byte{3, 1, 1}, ErrMalformed},
		{"bad status", []byte{3, 2, 1, 9}, ErrMalformed},
		{"cancel trailing", []byte{4, 2, 1, 1}, ErrMalformed},
		{"request without cid", []byte{2, 1, 1}, ErrMalformed},
		{"dated request without deadline", []byte{5, 1, 1}, ErrMalformed},
		{"dated request without cid", []byte{5, 2, 1, 7}, ErrMalformed},
		{"dated request bad deadline", []byte{5, 2, 1, 0xff}, ErrMalformed},
	}
	for _, tt := range tests {
		_, err := ReadMessage(bytes.NewReader(tt.in))
		if !errors.Is(err, tt.want) {
			t.Errorf("ReadMessage(%s %x) = %v; want %v", tt.name, tt.in, err, tt.want)
		}
	}
}

func TestWriteMessageRejects(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"nil", nil, ErrMalformed},
		{"big data", &Response{ID: 1, Data: make([]byte, MaxChunkData+1)}, ErrFrameTooLarge},
		{"big ticket", &Hello{Ticket: make([]byte, MaxTicketSize+1)}, ErrMalformed},
		{"empty cid", &Request{ID: 1}, ErrMalformed},
		{"dated empty cid", &DatedRequest{ID: 1, Deadline: 5}, ErrMalformed},
		{"bad status", &Response{ID: 1, Status: 42}, ErrMalformed},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := WriteMessage(&buf, tt.msg); !errors.Is(err, tt.want) {
			t.Errorf("WriteMessage(%s) = %v; want %v", tt.name, err, tt.want)
		}
		if buf.Len() != 0 {
			t.Errorf("WriteMessage(%s) wrote %d bytes; want 0", tt.name, buf.Len())
		}
	}
}

func FuzzReadChunkMessage(f *testing.F) {
	for _, m := range []Message{
		&Hello{Version: ChunkVersion, Ticket: []byte(`{"v":1,"peer_id":"x"}`)},
		&Request{ID: 3, CID: []byte{1, 85, 18, 32, 1, 2}},
		&Response{ID: 3, Status: StatusOK, Data: []byte("chunk")},
		&Cancel{ID: 3},
		&DatedRequest{ID: 4, Deadline: 12_345, CID: []byte{1, 85, 18, 32, 1, 2}},
	} {
		var buf bytes.Buffer
		if err := WriteMessage(&buf, m); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReader(bytes.NewReader(in))
		for range 16 {
			msg, err := ReadMessage(br)
			if err != nil {
				return
			}
			var buf bytes.Buffer
			if err := WriteMessage(&buf, msg); err != nil {
				t.Fatalf("WriteMessage(ReadMessage(%x)) = %v; want nil", in, err)
			}
			again, err := ReadMessage(&buf)
			if err != nil || !reflect.DeepEqual(again, msg) {
				t.Fatalf("re-read of %T = %v, %v; want equal message", msg, again, err)
			}
		}
	})
}
