package cache

import (
	"context"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/chunkstore"
	"github.com/chorus-music/chorus/internal/clock"
)

// chunk returns deterministic pseudo-random bytes of the given size for
// seed, and their CID.
func chunk(seed uint64, size int) (cid.Cid, []byte) {
	r := rand.New(rand.NewPCG(seed, 0x6368756e6b))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return catalog.ChunkCID(b), b
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// openTest opens a cache in dir, closing it at the end of the test.
func openTest(t *testing.T, opts Options) *Cache {
	t.Helper()
	c, err := Open(opts)
	if err != nil {
		t.Fatalf("Open(%+v) = %v", opts, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustPut(t *testing.T, c *Cache, id cid.Cid, data []byte) {
	t.Helper()
	if err := c.Put(context.Background(), id, data); err != nil {
		t.Fatalf("Put(%s) = %v", id, err)
	}
}

// diskBytes sums the sizes of every file under dir, temporary files
// included, and counts the temporary ones.
func diskBytes(t *testing.T, dir string) (total int64, temps int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || p == filepath.Join(dir, chunkstore.VersionFile) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		total += info.Size()
		if strings.HasPrefix(d.Name(), chunkstore.TempPrefix) {
			temps++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return total, temps
}

// fakeClock returns a Fake clock that advances by step on every Now, to
// model time passing between operations.
type steppingClock struct {
	*clock.Fake
	step time.Duration
}

func (s steppingClock) Now() time.Time {
	now := s.Fake.Now()
	s.Fake.Advance(s.step)
	return now
}
