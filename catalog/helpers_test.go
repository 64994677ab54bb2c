package catalog

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
)

// memSink is an in-memory ChunkSink that keeps copies of what it is given.
type memSink struct {
	mu     sync.Mutex // guards the fields below
	chunks map[cid.Cid][]byte
	puts   int
}

var _ ChunkSink = (*memSink)(nil)

func newMemSink() *memSink { return &memSink{chunks: map[cid.Cid][]byte{}} }

func (s *memSink) Put(_ context.Context, c cid.Cid, ciphertext []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chunks[c] = bytes.Clone(ciphertext)
	s.puts++
	return nil
}

func (s *memSink) get(c cid.Cid) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.chunks[c]
	return b, ok
}

// fixedKey returns a deterministic track key for tests.
func fixedKey(seed byte) TrackKey {
	var k TrackKey
	for i := range k.Key {
		k.Key[i] = seed + byte(i)
	}
	for i := range k.IV {
		k.IV[i] = seed ^ byte(i*7)
	}
	return k
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
