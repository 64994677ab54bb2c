package cache

import (
	"context"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
)

// Run with: go test -run '^$' -bench . -benchtime 2000x ./node/cache/

func BenchmarkPut(b *testing.B) {
	c, err := Open(Options{Dir: b.TempDir(), MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	// Precompute chunks so hashing the test data is not timed; 4096 chunks
	// of 16 KiB overflow the 64 MiB bound, so later puts also evict.
	const n = 4096
	ids := make([]cid.Cid, n)
	data := make([][]byte, n)
	for i := range n {
		ids[i], data[i] = chunk(uint64(i), catalog.ChunkSize)
	}
	b.SetBytes(catalog.ChunkSize)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%n == 0 && i > 0 {
			b.StopTimer()
			for _, id := range ids {
				c.Remove(id)
			}
			b.StartTimer()
		}
		if err := c.Put(ctx, ids[i%n], data[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	c, err := Open(Options{Dir: b.TempDir(), MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	const n = 256
	ids := make([]cid.Cid, n)
	for i := range n {
		id, data := chunk(uint64(i), catalog.ChunkSize)
		if err := c.Put(ctx, id, data); err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	b.SetBytes(catalog.ChunkSize)
	for i := 0; b.Loop(); i++ {
		if _, err := c.Get(ctx, ids[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}
