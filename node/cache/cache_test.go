package cache

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/chunkstore"
	"github.com/chorus-music/chorus/internal/clock"
)

func TestPutGet(t *testing.T) {
	c := openTest(t, Options{Dir: t.TempDir(), MaxBytes: 1 << 20})
	ctx := context.Background()
	id, data := chunk(1, catalog.ChunkSize)
	if c.Has(id) {
		t.Fatalf("Has(%s) before Put = true; want false", id)
	}
	if _, err := c.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%s) before Put = %v; want ErrNotFound", id, err)
	}
	mustPut(t, c, id, data)
	mustPut(t, c, id, data) // idempotent
	got, err := c.Get(ctx, id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get(%s) = %d bytes, %v; want the %d bytes put", id, len(got), err, len(data))
	}
	if !c.Has(id) {
		t.Errorf("Has(%s) = false; want true", id)
	}
	if got := c.List(); len(got) != 1 || !got[0].Equals(id) {
		t.Errorf("List() = %v; want [%s]", got, id)
	}
	if got := c.Size(); got != int64(len(data)) {
		t.Errorf("Size() = %d; want %d", got, len(data))
	}
	if got, want := c.Stats(), (Stats{Hits: 1, Misses: 1}); got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
	if err := c.Remove(id); err != nil {
		t.Fatalf("Remove(%s) = %v", id, err)
	}
	if err := c.Remove(id); err != nil {
		t.Fatalf("second Remove(%s) = %v; want nil", id, err)
	}
	if c.Has(id) || c.Size() != 0 {
		t.Errorf("after Remove: Has = %v, Size = %d; want false, 0", c.Has(id), c.Size())
	}
	if _, err := os.Stat(c.store.Path(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat of removed chunk file = %v; want not exist", err)
	}
}

func TestPutRejects(t *testing.T) {
	c := openTest(t, Options{Dir: t.TempDir(), MaxBytes: 1000})
	id, data := chunk(1, 100)
	big, bigData := chunk(2, 1001)
	v0, err := cid.Prefix{Version: 0, Codec: cid.DagProtobuf, MhType: 0x12, MhLength: -1}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   cid.Cid
		data []byte
		want error
	}{
		{"wrong data", id, append([]byte{1}, data...), ErrMismatch},
		{"undefined CID", cid.Undef, data, ErrMismatch},
		{"CIDv0", v0, data, ErrMismatch},
		{"larger than MaxBytes", big, bigData, ErrTooLarge},
	}
	for _, tt := range tests {
		err := c.Put(context.Background(), tt.id, tt.data)
		if !errors.Is(err, tt.want) {
			t.Errorf("Put(%s) [%s] = %v; want %v", tt.id, tt.name, err, tt.want)
		}
	}
	if got := c.List(); len(got) != 0 {
		t.Errorf("List() after rejected puts = %v; want empty", got)
	}
}

// TestEvictsLRU runs access sequences on a cache that holds three equal
// chunks and checks which survive.
func TestEvictsLRU(t *testing.T) {
	const size = 1000
	tests := []struct {
		name string
		ops  string // p<n> puts chunk n, g<n> gets it
		want string // chunks held afterwards
	}{
		{"fill", "p1 p2 p3", "1 2 3"},
		{"oldest put goes", "p1 p2 p3 p4", "2 3 4"},
		{"get refreshes", "p1 p2 p3 g1 p4", "1 3 4"},
		{"re-put refreshes", "p1 p2 p3 p1 p4", "1 3 4"},
		{"two evictions", "p1 p2 p3 g1 p4 p5", "1 4 5"},
		{"miss does not refresh", "p1 p2 p3 g9 p4", "2 3 4"},
		{"gets reorder all", "p1 p2 p3 g3 g2 g1 p4 p5", "1 4 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evicted []cid.Cid
			c := openTest(t, Options{
				Dir:      t.TempDir(),
				MaxBytes: 3 * size,
				Clock:    clock.NewFake(epoch), // stalled: stamps must still order uses
				OnEvict:  func(id cid.Cid) { evicted = append(evicted, id) },
			})
			runOps(t, c, tt.ops, size)
			checkHeld(t, c, tt.want, size)
			if got := len(evicted) + c.Len(); got != countPuts(tt.ops) {
				t.Errorf("evicted %d + held %d = %d; want %d distinct puts", len(evicted), c.Len(), got, countPuts(tt.ops))
			}
			if got := c.Stats().Evictions; got != int64(len(evicted)) {
				t.Errorf("Stats().Evictions = %d; want %d", got, len(evicted))
			}
		})
	}
}

func runOps(t *testing.T, c *Cache, ops string, size int) {
	t.Helper()
	for _, op := range strings.Fields(ops) {
		var n uint64
		for _, d := range op[1:] {
			n = n*10 + uint64(d-'0')
		}
		id, data := chunk(n, size)
		switch op[0] {
		case 'p':
			mustPut(t, c, id, data)
		case 'g':
			c.Get(context.Background(), id)
		}
	}
}

func countPuts(ops string) int {
	seen := map[string]bool{}
	for _, op := range strings.Fields(ops) {
		if op[0] == 'p' {
			seen[op] = true
		}
	}
	return len(seen)
}

func checkHeld(t *testing.T, c *Cache, want string, size int) {
	t.Helper()
	var got []string
	for _, n := range strings.Fields("1 2 3 4 5 6 7 8 9") {
		id, _ := chunk(uint64(n[0]-'0'), size)
		if c.Has(id) {
			got = append(got, n)
		}
	}
	if !slices.Equal(got, strings.Fields(want)) {
		t.Errorf("held chunks = %q; want %q", got, strings.Fields(want))
	}
}

// TestBoundRandom drives a seeded random sequence of puts and gets of
// varied sizes and checks the bound, in the index and on disk, after each.
func TestBoundRandom(t *testing.T) {
	const max = 100_000
	dir := t.TempDir()
	c := openTest(t, Options{Dir: dir, MaxBytes: max})
	r := rand.New(rand.NewPCG(42, 7))
	ctx := context.Background()
	for i := range 800 {
		n := r.Uint64N(60)
		size := 1 + int(n*n*7%20_000)
		id, data := chunk(n, size)
		if r.IntN(3) == 0 {
			got, err := c.Get(ctx, id)
			if err == nil && !bytes.Equal(got, data) {
				t.Fatalf("step %d: Get(%s) returned wrong bytes", i, id)
			}
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatalf("step %d: Get(%s) = %v; want data or ErrNotFound", i, id, err)
			}
		} else {
			mustPut(t, c, id, data)
			if !c.Has(id) {
				t.Fatalf("step %d: Has(%s) right after Put = false", i, id)
			}
		}
		if got := c.Size(); got > max {
			t.Fatalf("step %d: Size() = %d; want <= %d", i, got, max)
		}
		if i%50 == 0 {
			if disk, _ := diskBytes(t, dir); disk > max || disk != c.Size() {
				t.Fatalf("step %d: %d bytes on disk, Size() = %d; want equal and <= %d", i, disk, c.Size(), max)
			}
		}
	}
	if c.Stats().Evictions == 0 {
		t.Errorf("Stats().Evictions = 0; the sequence should have forced evictions")
	}
}

func TestConcurrent(t *testing.T) {
	const max = 64 * 1024
	dir := t.TempDir()
	c := openTest(t, Options{Dir: dir, MaxBytes: max})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 200 {
				n := r.Uint64N(40)
				id, data := chunk(n, 4096)
				switch r.IntN(4) {
				case 0, 1:
					if err := c.Put(ctx, id, data); err != nil {
						t.Errorf("Put(%s) = %v", id, err)
					}
				case 2:
					if got, err := c.Get(ctx, id); err == nil && !bytes.Equal(got, data) {
						t.Errorf("Get(%s) returned wrong bytes", id)
					} else if err != nil && !errors.Is(err, ErrNotFound) {
						t.Errorf("Get(%s) = %v", id, err)
					}
				case 3:
					if err := c.Remove(id); err != nil {
						t.Errorf("Remove(%s) = %v", id, err)
					}
				}
				if s := c.Size(); s > max {
					t.Errorf("Size() = %d; want <= %d", s, max)
				}
				c.List()
				c.Has(id)
			}
		})
	}
	wg.Wait()
	if disk, temps := diskBytes(t, dir); disk != c.Size() || temps != 0 {
		t.Errorf("on disk %d bytes, %d temp files; want Size() = %d bytes, 0 temp files", disk, temps, c.Size())
	}
}

func TestConcurrentPutSameChunk(t *testing.T) {
	c := openTest(t, Options{Dir: t.TempDir(), MaxBytes: 1 << 20})
	id, data := chunk(3, catalog.ChunkSize)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := c.Put(context.Background(), id, data); err != nil {
				t.Errorf("Put(%s) = %v", id, err)
			}
		})
	}
	wg.Wait()
	if got := c.Size(); got != int64(len(data)) {
		t.Errorf("Size() = %d; want %d", got, len(data))
	}
}

// TestCorruptOnRead damages a chunk's file in several ways and checks that
// Get reports a corrupt miss, removes the file and tells OnEvict.
func TestCorruptOnRead(t *testing.T) {
	tests := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"bit flip", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"extended", func(b []byte) []byte { return append(b, 0) }},
		{"emptied", func(b []byte) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evicted []cid.Cid
			c := openTest(t, Options{Dir: t.TempDir(), MaxBytes: 1 << 20,
				OnEvict: func(id cid.Cid) { evicted = append(evicted, id) }})
			id, data := chunk(5, catalog.ChunkSize)
			mustPut(t, c, id, data)
			p := c.store.Path(id)
			if err := os.WriteFile(p, tt.damage(slices.Clone(data)), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(context.Background(), id)
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrNotFound) || got != nil {
				t.Fatalf("Get(%s) of damaged file = %d bytes, %v; want nil, ErrCorrupt and ErrNotFound", id, len(got), err)
			}
			if c.Has(id) || c.Size() != 0 {
				t.Errorf("after corrupt Get: Has = %v, Size = %d; want false, 0", c.Has(id), c.Size())
			}
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Stat(%s) after corrupt Get = %v; want not exist", p, err)
			}
			if len(evicted) != 1 || !evicted[0].Equals(id) {
				t.Errorf("OnEvict calls = %v; want [%s]", evicted, id)
			}
			if got := c.Stats(); got.Corrupt != 1 || got.Misses != 1 || got.Hits != 0 {
				t.Errorf("Stats() = %+v; want 1 corrupt, 1 miss, 0 hits", got)
			}
			// The chunk can be put again.
			mustPut(t, c, id, data)
			if b, err := c.Get(context.Background(), id); err != nil || !bytes.Equal(b, data) {
				t.Errorf("Get(%s) after re-Put = %v; want the data", id, err)
			}
		})
	}
}

func TestVanishedFile(t *testing.T) {
	c := openTest(t, Options{Dir: t.TempDir(), MaxBytes: 1 << 20})
	id, data := chunk(6, 100)
	mustPut(t, c, id, data)
	if err := os.Remove(c.store.Path(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), id); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		t.Errorf("Get(%s) of deleted file = %v; want ErrNotFound, not ErrCorrupt", id, err)
	}
	if c.Has(id) || c.Size() != 0 {
		t.Errorf("after Get of deleted file: Has = %v, Size = %d; want false, 0", c.Has(id), c.Size())
	}
}

// TestLRUSurvivesRestart builds a recency order, closes the cache, reopens
// it and checks that evictions follow the same order.
func TestLRUSurvivesRestart(t *testing.T) {
	const size = 1000
	tests := []struct {
		name  string
		clk   clock.Clock
		ops   string // before the restart, on a cache of 4 chunks
		after string // after the restart
		want  string
	}{
		{"advancing clock", steppingClock{clock.NewFake(epoch), time.Second}, "p1 p2 p3 p4 g1 g2", "p5 p6", "1 2 5 6"},
		{"stalled clock", clock.NewFake(epoch), "p1 p2 p3 p4 g1 g2", "p5 p6", "1 2 5 6"},
		{"re-put", steppingClock{clock.NewFake(epoch), time.Millisecond}, "p1 p2 p3 p4 p1 g3", "p5 p6", "1 3 5 6"},
		{"gets after restart", steppingClock{clock.NewFake(epoch), time.Second}, "p1 p2 p3 p4 g1", "g2 p5 p6", "1 2 5 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, MaxBytes: 4 * size, Clock: tt.clk}
			c, err := Open(opts)
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			runOps(t, c, tt.ops, size)
			if err := c.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			c = openTest(t, opts)
			runOps(t, c, tt.after, size)
			checkHeld(t, c, tt.want, size)
		})
	}
}

func TestReopenShrinksToBound(t *testing.T) {
	const size = 1000
	dir := t.TempDir()
	clk := steppingClock{clock.NewFake(epoch), time.Second}
	c, err := Open(Options{Dir: dir, MaxBytes: 10 * size, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	runOps(t, c, "p1 p2 p3 p4 p5 p6 g1", size)
	c.Close()
	var evicted []cid.Cid
	c = openTest(t, Options{Dir: dir, MaxBytes: 3 * size, Clock: clk,
		OnEvict: func(id cid.Cid) { evicted = append(evicted, id) }})
	if got := c.Size(); got > 3*size {
		t.Errorf("Size() after reopen = %d; want <= %d", got, 3*size)
	}
	checkHeld(t, c, "1 5 6", size)
	if len(evicted) != 3 {
		t.Errorf("OnEvict called %d times at Open; want 3", len(evicted))
	}
	if disk, _ := diskBytes(t, dir); disk != c.Size() {
		t.Errorf("%d bytes on disk; want Size() = %d", disk, c.Size())
	}
}

func TestOpenCleansTempAndIgnoresJunk(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{Dir: dir, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	id, data := chunk(1, 500)
	mustPut(t, c, id, data)
	c.Close()
	shard := filepath.Dir(c.store.Path(id))
	other, _ := chunk(2, 10)
	plant := map[string][]byte{
		filepath.Join(shard, chunkstore.TempPrefix+"123"):   data[:100],      // torn write
		filepath.Join(dir, "zz", chunkstore.TempPrefix+"9"): []byte("x"),     // in another shard
		filepath.Join(dir, "README"):                        []byte("hello"), // not in a shard
		filepath.Join(shard, "notacid"):                     []byte("junk"),  // bad name
		filepath.Join(dir, "aa", other.String()):            []byte("wrong"), // wrong shard
	}
	for p, b := range plant {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c = openTest(t, Options{Dir: dir, MaxBytes: 1 << 20})
	if got := c.List(); len(got) != 1 || !got[0].Equals(id) {
		t.Errorf("List() = %v; want [%s]", got, id)
	}
	if got := c.Size(); got != 500 {
		t.Errorf("Size() = %d; want 500", got)
	}
	if _, temps := diskBytes(t, dir); temps != 0 {
		t.Errorf("%d temporary files left after Open; want 0", temps)
	}
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	full := NewLRU()
	full.Add("x", 1)
	tests := []struct {
		name string
		opts Options
	}{
		{"no dir", Options{MaxBytes: 1}},
		{"negative max", Options{Dir: dir, MaxBytes: -1}},
		{"non-empty policy", Options{Dir: dir, MaxBytes: 1, Policy: full}},
	}
	for _, tt := range tests {
		if c, err := Open(tt.opts); err == nil {
			c.Close()
			t.Errorf("Open(%+v) [%s] = nil error; want an error", tt.opts, tt.name)
		}
	}
}

func TestDefaultMaxBytes(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, Options{Dir: dir})
	free, err := freeBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := c.MaxBytes()
	if got <= 0 || got > DefaultMaxBytesCap {
		t.Errorf("MaxBytes() = %d; want in (0, %d]", got, DefaultMaxBytesCap)
	}
	// Free space moves under a busy machine; allow it a wide margin.
	if want := min(free/10, DefaultMaxBytesCap); got < want/2 || got > want*2 {
		t.Errorf("MaxBytes() = %d; want about %d (10%% of %d free, capped)", got, want, free)
	}
}

func TestClosed(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir(), MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	id, data := chunk(1, 10)
	mustPut(t, c, id, data)
	if err := c.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	if err := c.Put(context.Background(), id, data); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v; want ErrClosed", err)
	}
	if _, err := c.Get(context.Background(), id); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v; want ErrClosed", err)
	}
	if err := c.Remove(id); !errors.Is(err, ErrClosed) {
		t.Errorf("Remove after Close = %v; want ErrClosed", err)
	}
}

func TestContextCancelled(t *testing.T) {
	c := openTest(t, Options{Dir: t.TempDir(), MaxBytes: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id, data := chunk(1, 10)
	if err := c.Put(ctx, id, data); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled context = %v; want context.Canceled", err)
	}
	if _, err := c.Get(ctx, id); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled context = %v; want context.Canceled", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := openTest(t, Options{Dir: t.TempDir(), MaxBytes: 250, Registry: reg})
	ctx := context.Background()
	for i := range 3 {
		id, data := chunk(uint64(i), 100)
		mustPut(t, c, id, data)
		c.Get(ctx, id)
	}
	missing, _ := chunk(99, 1)
	c.Get(ctx, missing)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if m.Counter != nil {
			got[mf.GetName()] = m.Counter.GetValue()
		} else {
			got[mf.GetName()] = m.Gauge.GetValue()
		}
	}
	want := map[string]float64{
		"chorus_cache_hits_total":      3,
		"chorus_cache_misses_total":    1,
		"chorus_cache_evictions_total": 1,
		"chorus_cache_corrupt_total":   0,
		"chorus_cache_bytes":           200,
		"chorus_cache_max_bytes":       250,
		"chorus_cache_chunks":          2,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("metric %s = %v; want %v", name, got[name], w)
		}
	}
	// A second cache on the same registry is refused, not silently merged.
	if c2, err := Open(Options{Dir: t.TempDir(), MaxBytes: 250, Registry: reg}); err == nil {
		c2.Close()
		t.Errorf("Open with a registry already holding cache metrics = nil error; want an error")
	}
}

func TestUnreadableFileIsMiss(t *testing.T) {
	c := openTest(t, Options{Dir: t.TempDir(), MaxBytes: 1 << 20})
	id, data := chunk(7, 100)
	mustPut(t, c, id, data)
	p := c.store.Path(id)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil { // reading a directory fails
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), id); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		t.Errorf("Get(%s) of unreadable file = %v; want ErrNotFound, not ErrCorrupt", id, err)
	}
}

// TestEqualModTimes checks that a directory whose files all carry the same
// time (copied, or on a filesystem with coarse times) still opens whole.
func TestEqualModTimes(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{Dir: dir, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	runOps(t, c, "p1 p2 p3 p4", 100)
	c.Close()
	for _, id := range c.List() {
		if err := os.Chtimes(c.store.Path(id), epoch, epoch); err != nil {
			t.Fatal(err)
		}
	}
	c = openTest(t, Options{Dir: dir, MaxBytes: 250, Clock: clock.NewFake(epoch)})
	if got := c.Len(); got != 2 {
		t.Errorf("Len() after reopening 4 chunks of 100 bytes with MaxBytes 250 = %d; want 2", got)
	}
	id5, data5 := chunk(5, 100)
	mustPut(t, c, id5, data5)
	for _, id := range c.List() {
		if _, err := c.Get(context.Background(), id); err != nil {
			t.Errorf("Get(%s) = %v", id, err)
		}
	}
}
