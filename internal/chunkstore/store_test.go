package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/rand"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// listFiles returns every file under root but the version file, relative
// to it.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && p != filepath.Join(root, VersionFile) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

func TestStorePutGetLayout(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	data, c := putRandom(t, s, 256<<10)
	name := c.String()
	want := filepath.Join(Shard(name), name)
	if got := listFiles(t, s.Root()); len(got) != 1 || got[0] != want {
		t.Fatalf("files after Put = %q; want [%q]", got, want)
	}
	if !s.Has(c) {
		t.Errorf("Has(%s) = false; want true", c)
	}
	got, err := s.Get(context.Background(), c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get(%s) = %d bytes, %v; want the %d bytes put", c, len(got), err, len(data))
	}
	f, fi, err := s.Open(c)
	if err != nil {
		t.Fatalf("Open(%s) = %v", c, err)
	}
	f.Close()
	if fi.Size() != int64(len(data)) {
		t.Errorf("Open(%s) size = %d; want %d", c, fi.Size(), len(data))
	}
	// Idempotent: the same chunk again is nil and changes nothing.
	if err := s.Put(context.Background(), c, data); err != nil {
		t.Errorf("second Put(%s) = %v; want nil", c, err)
	}
	if got := listFiles(t, s.Root()); len(got) != 1 {
		t.Errorf("files after second Put = %q; want one", got)
	}
}

func TestStoreRejectsMismatch(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("the real chunk")
	c := chunkCID(data)
	err = s.Put(context.Background(), c, []byte("some other bytes"))
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("Put(%s, wrong data) = %v; want ErrMismatch", c, err)
	}
	if s.Has(c) {
		t.Errorf("Has(%s) = true after rejected Put", c)
	}
	if got := listFiles(t, s.Root()); len(got) != 0 {
		t.Errorf("files after rejected Put = %q; want none", got)
	}
}

func TestStoreBadCIDs(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("chunk")
	sum, _ := mh.Sum(data, mh.SHA2_256, -1)
	blake, _ := mh.Sum(data, mh.BLAKE3, 32)
	tests := []struct {
		name string
		c    cid.Cid
	}{
		{"undef", cid.Undef},
		{"v0", cid.NewCidV0(sum)},
		{"dag-pb", cid.NewCidV1(cid.DagProtobuf, sum)},
		{"blake3", cid.NewCidV1(cid.Raw, blake)},
	}
	for _, tt := range tests {
		if err := s.Put(context.Background(), tt.c, data); !errors.Is(err, ErrBadCID) {
			t.Errorf("Put(%s) = %v; want ErrBadCID", tt.name, err)
		}
		if _, _, err := s.Open(tt.c); !errors.Is(err, ErrBadCID) {
			t.Errorf("Open(%s) = %v; want ErrBadCID", tt.name, err)
		}
		if s.Has(tt.c) {
			t.Errorf("Has(%s) = true; want false", tt.name)
		}
	}
}

func TestStoreNotFound(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	c := chunkCID([]byte("never stored"))
	if _, _, err := s.Open(c); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(%s) = %v; want ErrNotFound", c, err)
	}
	if _, err := s.Get(context.Background(), c); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(%s) = %v; want ErrNotFound", c, err)
	}
}

func TestStoreTooLarge(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, maxChunk+1)
	c := chunkCID(data)
	if err := s.Put(context.Background(), c, data); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put(%d bytes) = %v; want ErrTooLarge", len(data), err)
	}
}

func TestStoreCancelledPut(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := []byte("late")
	if err := s.Put(ctx, chunkCID(data), data); !errors.Is(err, context.Canceled) {
		t.Errorf("Put(cancelled ctx) = %v; want context.Canceled", err)
	}
}

// A Put that crashed mid-write leaves only a ".tmp-" file, which is never
// taken for the chunk.
func TestStoreTempFileNeverAChunk(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("a chunk whose write was torn")
	c := chunkCID(data)
	name := c.String()
	shard := filepath.Join(s.Root(), Shard(name))
	if err := os.MkdirAll(shard, 0o755); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(shard, TempPrefix+"crashed")
	if err := os.WriteFile(torn, data[:5], 0o600); err != nil {
		t.Fatal(err)
	}
	if s.Has(c) {
		t.Fatalf("Has(%s) = true with only a temp file", c)
	}
	if _, _, err := s.Open(c); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open(%s) = %v with only a temp file; want ErrNotFound", c, err)
	}
	if err := s.Put(context.Background(), c, data); err != nil {
		t.Fatalf("Put(%s) = %v", c, err)
	}
	got, err := s.Get(context.Background(), c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get(%s) = %q, %v; want %q", c, got, err, data)
	}
	for _, f := range listFiles(t, s.Root()) {
		if base := filepath.Base(f); strings.HasPrefix(base, TempPrefix) && base != filepath.Base(torn) {
			t.Errorf("Put left temp file %s", f)
		}
	}
}

func TestStoreConcurrentPuts(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("concurrent "), 2000)
	c := chunkCID(data)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = s.Put(context.Background(), c, data) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Put #%d = %v; want nil", i, err)
		}
	}
	files := listFiles(t, s.Root())
	if len(files) != 1 {
		t.Fatalf("files after %d concurrent Puts = %q; want one chunk", n, files)
	}
	got, err := s.Get(context.Background(), c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get(%s) = %d bytes, %v; want the %d bytes put", c, len(got), err, len(data))
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Options{Dir: "", MaxChunkSize: maxChunk}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Open(Options{Dir: %q, MaxChunkSize: maxChunk}) = %v; want ErrBadOptions", "", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: file, MaxChunkSize: maxChunk}); err == nil {
		t.Errorf("Open(Options{Dir: %q, MaxChunkSize: maxChunk}) = nil error on a regular file", file)
	}
}

func TestStoreRemoveTemp(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	_, c := putRandom(t, s, 100)
	name := c.String()
	shard := filepath.Join(s.Root(), Shard(name))
	old := filepath.Join(shard, TempPrefix+"old")
	recent := filepath.Join(shard, TempPrefix+"recent")
	for _, p := range []string{old, recent} {
		if err := os.WriteFile(p, []byte("torn"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(recent)
	if err != nil {
		t.Fatal(err)
	}
	cutoff := fi.ModTime().Add(-time.Minute)
	if err := os.Chtimes(old, cutoff.Add(-time.Hour), cutoff.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err := s.RemoveTemp(cutoff)
	if n != 1 || err != nil {
		t.Fatalf("RemoveTemp = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old temp file still there: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("recent temp file removed: %v", err)
	}
	if !s.Has(c) {
		t.Errorf("Has(%s) = false after RemoveTemp; chunks must stay", c)
	}
}

// TestBatchPutSyncAndTornRewrite: a batch writes chunks that read back, and
// a torn file under a chunk's name (a crash before Sync) is rewritten by
// the next Put instead of being kept.
func TestBatchPutSyncAndTornRewrite(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxChunkSize: maxChunk})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("some ciphertext of a chunk")
	c := chunkCID(data)
	b := s.Batch()
	if err := b.Put(context.Background(), c, data); err != nil {
		t.Fatalf("Batch.Put: %v", err)
	}
	if err := b.Put(context.Background(), c, []byte("other")); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Batch.Put(mismatch) = %v; want ErrMismatch", err)
	}
	if err := b.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got, err := s.Get(context.Background(), c); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after batch = %q, %v; want %q", got, err, data)
	}
	// Tear the file, as a crash before Sync could.
	if err := os.WriteFile(s.Path(c), data[:3], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), c, data); err != nil {
		t.Fatalf("Put over a torn chunk: %v", err)
	}
	if got, _ := os.ReadFile(s.Path(c)); !bytes.Equal(got, data) {
		t.Fatalf("torn chunk not rewritten: %q", got)
	}
}

// maxChunk is the bound the tests open stores with (catalog's MaxChunkSize).
const maxChunk = 1 << 20

// chunkCID names data the way catalog.ChunkCID does.
func chunkCID(data []byte) cid.Cid {
	sum, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.Raw, sum)
}

// putRandom stores a random chunk of n bytes and returns it and its CID.
func putRandom(tb testing.TB, s *Store, n int) ([]byte, cid.Cid) {
	tb.Helper()
	data := make([]byte, n)
	rand.Read(data)
	c := chunkCID(data)
	if err := s.Put(context.Background(), c, data); err != nil {
		tb.Fatalf("Put(%s): %v", c, err)
	}
	return data, c
}
