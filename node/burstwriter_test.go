package node

import (
	"bytes"
	"errors"
	"testing"
)

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// TestBurstWriterLendsItsBuffer: writes are held until Flush, which sends
// them in one write and gives the buffer back, so an idle writer holds
// none; the next burst borrows again, and a failed flush drops the rest
// and still gives the buffer back.
func TestBurstWriterLendsItsBuffer(t *testing.T) {
	pool := newWriterPool(64)
	var out bytes.Buffer
	b := &burstWriter{pool: pool, w: &out}
	if err := b.Flush(); err != nil || b.bw != nil {
		t.Fatalf("Flush of nothing = %v, holding %v; want nil, no buffer", err, b.bw != nil)
	}
	for burst, parts := range [][]string{{"hello ", "world"}, {"again"}} {
		out.Reset()
		for _, p := range parts {
			if _, err := b.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		if out.Len() != 0 {
			t.Fatalf("burst %d: %q written before Flush", burst, out.String())
		}
		if b.bw == nil {
			t.Fatalf("burst %d: no buffer held while writing", burst)
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		var want string
		for _, p := range parts {
			want += p
		}
		if out.String() != want || b.bw != nil {
			t.Fatalf("burst %d: flushed %q, holding a buffer %v; want %q and none", burst, out.String(), b.bw != nil, want)
		}
	}
	broken := errors.New("stream reset")
	f := &burstWriter{pool: pool, w: failWriter{broken}}
	if _, err := f.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); !errors.Is(err, broken) || f.bw != nil {
		t.Fatalf("failed Flush = %v, holding %v; want %v and no buffer", err, f.bw != nil, broken)
	}
	// The buffer given back is clean: a later burst elsewhere sends only
	// its own bytes.
	out.Reset()
	if _, err := b.Write([]byte("clean")); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil || out.String() != "clean" {
		t.Fatalf("after a failed burst: flushed %q, %v; want %q", out.String(), err, "clean")
	}
}
