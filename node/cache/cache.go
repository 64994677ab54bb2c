package cache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/chunkstore"
	"github.com/chorus-music/chorus/internal/clock"
)

// DefaultMaxBytesCap caps the default size bound.
const DefaultMaxBytesCap int64 = 10 << 30

// Options configures a Cache.
type Options struct {
	// Dir is the cache directory; it is created if missing. Required.
	Dir string
	// MaxBytes bounds the bytes of chunk data held. Zero means the default:
	// 10% of the space available on the filesystem holding Dir plus what
	// the cache already holds there, capped at DefaultMaxBytesCap. Negative
	// is an error.
	MaxBytes int64
	// Clock stamps uses of chunks (see the package doc). Nil means
	// clock.Real.
	Clock clock.Clock
	// Logger receives the cache's logs. Nil discards them.
	Logger *slog.Logger
	// Registry, if set, receives the cache's metrics (hits, misses,
	// evictions, corrupt chunks, bytes, chunks). Nil registers nothing.
	Registry prometheus.Registerer
	// Policy decides evictions. It must be empty; the Cache owns it from
	// then on and serialises calls to it. Nil means NewLRU().
	Policy Policy
	// OnEvict, if set, is called with each chunk the cache drops by itself:
	// evicted for space, found corrupt, or found missing on disk. It is not
	// called for Remove. It runs synchronously, without the cache's lock
	// held, in the goroutine whose call caused the drop (Open included), so
	// it may call the Cache but should return quickly; calls from
	// concurrent Puts and Gets may overlap.
	OnEvict func(cid.Cid)
}

// Stats counts a cache's activity since Open.
type Stats struct {
	Hits      int64 // Get calls that returned a chunk
	Misses    int64 // Get calls that did not (corrupt chunks included)
	Evictions int64 // chunks dropped to make room
	Corrupt   int64 // chunks dropped because they no longer matched their CID
}

// Cache is a size-bounded, content-addressed store of encrypted chunks on
// disk. It is safe for concurrent use.
type Cache struct {
	store   *chunkstore.Store
	clock   clock.Clock
	logger  *slog.Logger
	onEvict func(cid.Cid)
	max     int64

	hits, misses, evictions, corrupt atomic.Int64

	wg sync.WaitGroup // counts writes in progress

	mu        sync.Mutex // guards the fields below
	policy    Policy
	entries   map[string]*entry // by cid.KeyString
	used      int64             // bytes of ready entries and of reservations
	lastStamp time.Time         // last use stamp handed out
	pending   int               // writes in progress
	changed   chan struct{}     // closed and replaced when a write ends
	closed    bool
}

// entry is one chunk in the index: ready once its file is in place, pending
// while it is being written.
type entry struct {
	c     cid.Cid
	size  int64
	ready bool
	done  chan struct{} // closed when a pending write ends
}

var _ catalog.ChunkSink = (*Cache)(nil)

// Open opens (or creates) the cache in opts.Dir, removes temporary files
// left by a crash, rebuilds the index from the chunk files, oldest use
// first, and evicts down to MaxBytes if the directory holds more.
func Open(opts Options) (*Cache, error) {
	if opts.Dir == "" {
		return nil, errors.New("cache: Options.Dir is required")
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("cache: Options.MaxBytes = %d; want >= 0", opts.MaxBytes)
	}
	policy := opts.Policy
	if policy == nil {
		policy = NewLRU()
	}
	if policy.Len() != 0 {
		return nil, errors.New("cache: Options.Policy must be empty")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// No MaxChunkSize: the cache's own bound (ErrTooLarge) applies.
	store, err := chunkstore.Open(chunkstore.Options{Dir: opts.Dir, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	// The cache is its directory's only user (its owner holds the data
	// directory's lock), so every temporary file is a crash's leftover.
	if _, err := store.RemoveAllTemp(); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	files, err := store.List()
	if err != nil {
		return nil, err
	}
	var held int64
	for _, f := range files {
		held += f.Size
	}
	max := opts.MaxBytes
	if max == 0 {
		free, err := freeBytes(opts.Dir)
		if err != nil {
			return nil, err
		}
		max = min((free+held)/10, DefaultMaxBytesCap)
	}
	c := &Cache{
		store:   store,
		clock:   clock.Or(opts.Clock),
		logger:  logger,
		onEvict: opts.OnEvict,
		max:     max,
		policy:  policy,
		entries: make(map[string]*entry, len(files)),
		changed: make(chan struct{}),
	}
	if opts.Registry != nil {
		// Before any eviction, so a refused registry changes nothing on disk.
		if err := c.register(opts.Registry); err != nil {
			return nil, err
		}
	}
	// Least recently used first, so the policy ends with the newest in front.
	slices.SortFunc(files, func(a, b chunkstore.Entry) int {
		if r := a.ModTime.Compare(b.ModTime); r != 0 {
			return r
		}
		return cmp.Compare(a.CID.KeyString(), b.CID.KeyString())
	})
	c.mu.Lock()
	for _, f := range files {
		key := f.CID.KeyString()
		c.entries[key] = &entry{c: f.CID, size: f.Size, ready: true}
		c.policy.Add(key, f.Size)
		c.used += f.Size
		if f.ModTime.After(c.lastStamp) {
			c.lastStamp = f.ModTime
		}
	}
	evicted, _ := c.makeRoomLocked(0)
	chunks, used := len(c.entries), c.used
	c.mu.Unlock()
	c.notifyEvicted(evicted)
	logger.Info("cache opened", "dir", opts.Dir, "chunks", chunks, "bytes", used, "max_bytes", max, "evicted", len(evicted))
	return c, nil
}

// Put stores a chunk. data must hash to c (CIDv1 raw sha2-256), or Put
// returns ErrMismatch; a chunk larger than MaxBytes gets ErrTooLarge. Putting
// a chunk already held only counts as a use. Put evicts least recently used
// chunks to make room, and waits (bounded by ctx) when the room is held by
// other writes in progress. It implements catalog.ChunkSink.
func (c *Cache) Put(ctx context.Context, id cid.Cid, data []byte) error {
	if !catalog.VerifyCID(id, data) {
		return fmt.Errorf("%w: put %s (%d bytes)", ErrMismatch, id, len(data))
	}
	size := int64(len(data))
	if size > c.max {
		return fmt.Errorf("%w: put %s: %d bytes > MaxBytes %d", ErrTooLarge, id, size, c.max)
	}
	key := id.KeyString()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cache: put %s: %w", id, err)
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return fmt.Errorf("cache: put %s: %w", id, ErrClosed)
		}
		if e := c.entries[key]; e != nil {
			if e.ready {
				stamp := c.stampLocked()
				c.policy.Touch(key)
				c.mu.Unlock()
				c.touchFile(id, stamp)
				return nil
			}
			// Another Put of the same chunk is writing it: wait for its
			// outcome, then look again.
			done := e.done
			c.mu.Unlock()
			if err := wait(ctx, done); err != nil {
				return fmt.Errorf("cache: put %s: %w", id, err)
			}
			continue
		}
		evicted, ok := c.makeRoomLocked(size)
		if !ok && c.pending == 0 {
			// Nothing to evict and nothing to wait for: only a Policy that
			// lost track of its entries gets here.
			used := c.used
			c.mu.Unlock()
			c.notifyEvicted(evicted)
			return fmt.Errorf("cache: put %s: policy has no victim but %d of %d bytes are used", id, used, c.max)
		}
		if !ok {
			// The room is held by writes in progress: wait for one to end.
			changed := c.changed
			c.mu.Unlock()
			c.notifyEvicted(evicted)
			if err := wait(ctx, changed); err != nil {
				return fmt.Errorf("cache: put %s: %w", id, err)
			}
			continue
		}
		e := &entry{c: id, size: size, done: make(chan struct{})}
		c.entries[key] = e
		c.used += size
		c.pending++
		stamp := c.stampLocked()
		c.wg.Add(1)
		c.mu.Unlock()
		c.notifyEvicted(evicted)
		return c.write(e, data, stamp)
	}
}

// write stores a reserved entry's file and settles the reservation.
func (c *Cache) write(e *entry, data []byte, stamp time.Time) error {
	defer c.wg.Done()
	// No fsync: Get verifies every chunk against its CID and drops a torn
	// one, so a power loss costs at most a refetch, and a process crash
	// loses nothing (the rename is atomic, the page cache survives). An
	// fsync per 16 KiB chunk was a tenth of a listener's CPU at the start
	// of a play (BENCHMARKS.md, issue 11).
	err := c.store.Write(e.c, data, chunkstore.WriteOptions{Durability: chunkstore.SyncNone, ModTime: stamp})
	key := e.c.KeyString()
	c.mu.Lock()
	c.pending--
	if err != nil {
		delete(c.entries, key)
		c.used -= e.size
	} else {
		e.ready = true
		c.policy.Add(key, e.size)
	}
	close(e.done)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	if err != nil {
		c.logger.Warn("cache write failed", "cid", e.c, "err", err)
	}
	return err
}

// Get returns the chunk c. A chunk the cache does not hold gives an error
// wrapping ErrNotFound; so does a chunk still being written, or one whose
// file cannot be read. A chunk whose file no longer hashes to c is removed
// and gives an error wrapping both ErrNotFound and ErrCorrupt: corrupt bytes
// are never returned. A hit counts as a use. The returned slice is the
// caller's.
func (c *Cache) Get(ctx context.Context, id cid.Cid) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cache: get %s: %w", id, err)
	}
	key := id.KeyString()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("cache: get %s: %w", id, ErrClosed)
	}
	e := c.entries[key]
	if e == nil || !e.ready {
		c.mu.Unlock()
		c.misses.Add(1)
		return nil, fmt.Errorf("cache: get %s: %w", id, ErrNotFound)
	}
	stamp := c.stampLocked()
	c.policy.Touch(key)
	c.mu.Unlock()

	data, err := c.store.Read(id)
	if errors.Is(err, fs.ErrNotExist) {
		// Deleted behind our back (or evicted since we looked): forget it.
		c.misses.Add(1)
		if c.dropIfCurrent(e, false) {
			c.logger.Warn("cached chunk vanished from disk", "cid", id)
			c.notifyEvicted([]cid.Cid{id})
		}
		return nil, fmt.Errorf("cache: get %s: %w", id, ErrNotFound)
	}
	if err != nil {
		// Unreadable for another reason (EIO, EMFILE...): a miss, so the
		// caller falls back to the network, but the entry stays, as the
		// cause may pass.
		c.misses.Add(1)
		c.logger.Warn("cache read failed", "cid", id, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if !catalog.VerifyCID(id, data) {
		c.misses.Add(1)
		c.corrupt.Add(1)
		if c.dropIfCurrent(e, true) {
			c.logger.Warn("removed corrupt chunk", "cid", id, "bytes", len(data))
			c.notifyEvicted([]cid.Cid{id})
		}
		return nil, fmt.Errorf("cache: get %s: %w: %w", id, ErrNotFound, ErrCorrupt)
	}
	c.hits.Add(1)
	c.touchFile(id, stamp)
	return data, nil
}

// Has reports whether the cache holds c. It does not count as a use.
func (c *Cache) Has(id cid.Cid) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[id.KeyString()]
	return e != nil && e.ready
}

// List returns the CIDs of every chunk held, in no particular order.
func (c *Cache) List() []cid.Cid {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]cid.Cid, 0, len(c.entries))
	for _, e := range c.entries {
		if e.ready {
			out = append(out, e.c)
		}
	}
	return out
}

// Size returns the bytes held, counting space reserved by writes in
// progress. It never exceeds MaxBytes.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Len returns the number of chunks held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.policy.Len()
}

// MaxBytes returns the size bound in force.
func (c *Cache) MaxBytes() int64 { return c.max }

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:      c.hits.Load(),
		Misses:    c.misses.Load(),
		Evictions: c.evictions.Load(),
		Corrupt:   c.corrupt.Load(),
	}
}

// Remove deletes chunk c. Removing a chunk the cache does not hold is not
// an error. If c is being written, Remove waits for the write to end first.
// OnEvict is not called.
func (c *Cache) Remove(id cid.Cid) error {
	key := id.KeyString()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return fmt.Errorf("cache: remove %s: %w", id, ErrClosed)
		}
		e := c.entries[key]
		if e == nil {
			c.mu.Unlock()
			return nil
		}
		if !e.ready {
			done := e.done
			c.mu.Unlock()
			<-done // a write always ends
			continue
		}
		err := c.dropLocked(e, true)
		c.mu.Unlock()
		return err
	}
}

// Close waits for writes in progress and closes the cache. Later calls of
// Put, Get and Remove return ErrClosed. Close is idempotent.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// makeRoomLocked evicts victims until size more bytes fit under the bound.
// It reports false when they cannot fit because the rest of the room is
// reserved by writes in progress; it returns the evicted CIDs either way.
// Files are removed under the lock, so the bytes on disk never exceed the
// bound, even for a moment.
func (c *Cache) makeRoomLocked(size int64) (evicted []cid.Cid, ok bool) {
	for c.used+size > c.max {
		key, ok := c.policy.Victim()
		if !ok {
			return evicted, false
		}
		e := c.entries[key]
		if e == nil {
			// The policy knows a key the index does not: drop it there.
			c.policy.Remove(key)
			continue
		}
		if err := c.dropLocked(e, true); err != nil {
			c.logger.Warn("evict failed", "cid", e.c, "err", err)
		}
		c.evictions.Add(1)
		evicted = append(evicted, e.c)
	}
	return evicted, true
}

// dropLocked forgets a ready entry and, if removeFile, deletes its file.
func (c *Cache) dropLocked(e *entry, removeFile bool) error {
	key := e.c.KeyString()
	delete(c.entries, key)
	c.policy.Remove(key)
	c.used -= e.size
	if removeFile {
		return c.store.Remove(e.c)
	}
	return nil
}

// dropIfCurrent drops e if it is still the index's entry for its CID, and
// reports whether it did.
func (c *Cache) dropIfCurrent(e *entry, removeFile bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[e.c.KeyString()] != e {
		return false
	}
	if err := c.dropLocked(e, removeFile); err != nil {
		c.logger.Warn("remove failed", "cid", e.c, "err", err)
	}
	return true
}

// stampLocked returns the time to record a use with: the clock's time at
// microsecond precision, made strictly later than the previous stamp so
// that file times keep the order of uses even when the clock stalls or
// steps back.
func (c *Cache) stampLocked() time.Time {
	now := c.clock.Now().Truncate(time.Microsecond)
	if !now.After(c.lastStamp) {
		now = c.lastStamp.Add(time.Microsecond)
	}
	c.lastStamp = now
	return now
}

// touchFile records a use on disk. Failure only loses recency across a
// restart, so it is logged, not returned.
func (c *Cache) touchFile(id cid.Cid, stamp time.Time) {
	if err := c.store.Touch(id, stamp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.logger.Warn("cache touch failed", "cid", id, "err", err)
	}
}

func (c *Cache) notifyEvicted(ids []cid.Cid) {
	if c.onEvict == nil {
		return
	}
	for _, id := range ids {
		c.onEvict(id)
	}
}

func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
