package chunkstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/chorus-music/chorus/internal/atomicfile"
)

// TempPrefix starts the name of every file a write is still making. No CID
// string starts with a dot, so a temp file is never mistaken for a chunk.
const TempPrefix = ".tmp-"

// VersionFile, in the root, says the directory is in this package's layout.
const (
	VersionFile    = ".chunkstore"
	versionContent = "chorus chunkstore 1: Dir/<next-to-last two characters of the CID>/<CID>\n"
)

// Options configures Open.
type Options struct {
	// Dir is the store's root directory, created if missing. Required.
	Dir string
	// MaxChunkSize, if positive, bounds the bytes of one chunk: larger
	// chunks are refused on write (ErrTooLarge) and on Get. Zero means no
	// bound; negative is an error.
	MaxChunkSize int64
	// Logger receives the store's warnings (unexpected files, conversion).
	// Nil discards them.
	Logger *slog.Logger
}

// Store is a content-addressed directory of chunks (see the package doc).
// It holds no state besides its options and is safe for concurrent use, by
// goroutines and by processes.
type Store struct {
	root   string
	max    int64
	logger *slog.Logger
}

// Entry describes one chunk file.
type Entry struct {
	CID     cid.Cid
	Size    int64
	ModTime time.Time
}

// Open opens (creating it if needed) the store rooted at opts.Dir and
// converts a directory in an older layout (see the package doc).
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: empty directory", ErrBadOptions)
	}
	if opts.MaxChunkSize < 0 {
		return nil, fmt.Errorf("%w: MaxChunkSize = %d", ErrBadOptions, opts.MaxChunkSize)
	}
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("chunk store %q: %w", opts.Dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create chunk store: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("chunk store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %q is not a directory", ErrBadOptions, abs)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{root: abs, max: opts.MaxChunkSize, logger: logger}
	if err := s.convert(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root returns the store's absolute root directory.
func (s *Store) Root() string { return s.root }

// CheckCID reports (as ErrBadCID) whether c is not the kind of CID chunks
// are named by: CIDv1, raw codec, sha2-256.
func CheckCID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined", ErrBadCID)
	}
	if c.Version() != 1 || c.Type() != cid.Raw || c.Prefix().MhType != mh.SHA2_256 {
		return fmt.Errorf("%w: %s is not CIDv1 raw sha2-256", ErrBadCID, c)
	}
	return nil
}

// Verify reports whether data hashes to c, a chunk CID.
func Verify(c cid.Cid, data []byte) bool {
	if CheckCID(c) != nil {
		return false
	}
	dec, err := mh.Decode(c.Hash())
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	return string(dec.Digest) == string(sum[:])
}

// ParseName turns a chunk file name back into its CID. It accepts only the
// canonical base32 string of a CIDv1 raw sha2-256.
func ParseName(name string) (cid.Cid, error) {
	if strings.HasPrefix(name, ".") {
		return cid.Undef, fmt.Errorf("%w: %q is not a chunk name", ErrBadCID, name)
	}
	c, err := cid.Decode(name)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %q is not a chunk name: %v", ErrBadCID, name, err)
	}
	if err := CheckCID(c); err != nil {
		return cid.Undef, err
	}
	if c.String() != name {
		return cid.Undef, fmt.Errorf("%w: %q is not in canonical form", ErrBadCID, name)
	}
	return c, nil
}

// Shard returns the shard directory name of a chunk file name: its
// next-to-last two characters.
func Shard(name string) string {
	if len(name) < 3 {
		return "__"
	}
	return name[len(name)-3 : len(name)-1]
}

// Path returns where c lives. Only a CID that passed CheckCID, whose
// base32 string holds only [a-z2-7], may be given: it cannot escape the
// root.
func (s *Store) Path(c cid.Cid) string {
	name := c.String()
	return filepath.Join(s.root, Shard(name), name)
}

// Durability says how much of a write is synced before it returns.
type Durability int

const (
	// SyncFile fsyncs the file before its rename, not the directory: a
	// power loss may forget the newest chunks but never exposes a torn one
	// (a cache's choice).
	SyncFile Durability = iota
	// SyncAll also fsyncs the directory after the rename: the chunk
	// survives a power loss once the write returns.
	SyncAll
	// SyncNone syncs nothing; Batch.Sync makes the writes durable later.
	SyncNone
)

// WriteOptions configures Write.
type WriteOptions struct {
	Durability Durability
	// ModTime, if not zero, is set on the file (before the rename for a
	// new file; after it, for a chunk already present).
	ModTime time.Time
}

// check validates a chunk before it is stored: the CID's kind, the size
// bound, the bytes against the CID.
func (s *Store) check(c cid.Cid, data []byte) error {
	if err := CheckCID(c); err != nil {
		return err
	}
	if s.max > 0 && int64(len(data)) > s.max {
		return fmt.Errorf("%w: %s has %d bytes, limit %d", ErrTooLarge, c, len(data), s.max)
	}
	if !Verify(c, data) {
		return fmt.Errorf("%w: %s", ErrMismatch, c)
	}
	return nil
}

// Write stores data under c. It fails with ErrMismatch if data does not
// hash to c. A chunk already present is kept (its time set to
// opts.ModTime, if given) unless its bytes no longer hash to c, and then
// it is rewritten.
func (s *Store) Write(c cid.Cid, data []byte, opts WriteOptions) error {
	if err := s.check(c, data); err != nil {
		return err
	}
	final := s.Path(c)
	if old, err := os.ReadFile(final); err == nil && Verify(c, old) {
		if !opts.ModTime.IsZero() {
			if err := os.Chtimes(final, opts.ModTime, opts.ModTime); err != nil {
				return fmt.Errorf("write %s: %w", c, err)
			}
		}
		return nil
	}
	if err := writeFileAtomic(final, data, opts); err != nil {
		return fmt.Errorf("write chunk %s: %w", c, err)
	}
	return nil
}

// Put stores data under c, durably (SyncAll), and returns nil at once if
// the chunk is already stored. It implements catalog.ChunkSink.
func (s *Store) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", c, err)
	}
	return s.Write(c, data, WriteOptions{Durability: SyncAll})
}

// Batch returns a sink for many chunks at once, such as one track's
// ingest: its Put renames each chunk into place without an fsync, and Sync
// makes everything written so far durable with one syncfs(2). A crash
// before Sync can leave a torn file under a chunk's name; a later write of
// that chunk rewrites it, and readers that verify (every reader of chunks
// in Chorus does) never use it.
func (s *Store) Batch() *Batch { return &Batch{s: s} }

// Batch is a Store sink with one sync at the end; see Store.Batch.
type Batch struct{ s *Store }

// Put stores data under c without syncing it.
func (b *Batch) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", c, err)
	}
	return b.s.Write(c, data, WriteOptions{Durability: batchDurability})
}

// Sync makes every chunk written so far durable.
func (b *Batch) Sync(ctx context.Context) error {
	if err := syncFS(b.s.root); err != nil {
		return fmt.Errorf("sync chunk store %s: %w", b.s.root, err)
	}
	return nil
}

// writeFileAtomic writes data as final through a temp file in its
// directory (created if missing), synced as opts says.
func writeFileAtomic(final string, data []byte, opts WriteOptions) error {
	return atomicfile.WriteFile(final, data, atomicfile.Options{
		NoSync:     opts.Durability == SyncNone,
		NoSyncDir:  opts.Durability == SyncFile,
		ModTime:    opts.ModTime,
		TempPrefix: TempPrefix,
		MkdirAll:   true,
	})
}

// Open opens the chunk c for reading. It fails with ErrNotFound if the
// store does not hold it and ErrBadCID if c is not a chunk CID. The caller
// closes the file. It does not verify the bytes.
func (s *Store) Open(c cid.Cid) (*os.File, os.FileInfo, error) {
	if err := CheckCID(c); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(s.Path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, c)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open chunk %s: %w", c, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat chunk %s: %w", c, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s is not a regular file", ErrNotFound, c)
	}
	return f, fi, nil
}

// Has reports whether the store holds a file for c.
func (s *Store) Has(c cid.Cid) bool {
	if CheckCID(c) != nil {
		return false
	}
	fi, err := os.Stat(s.Path(c))
	return err == nil && fi.Mode().IsRegular()
}

// Get reads the whole chunk c. It does not re-verify the bytes against c.
func (s *Store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", c, err)
	}
	f, fi, err := s.Open(c)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if s.max > 0 && fi.Size() > s.max {
		return nil, fmt.Errorf("%w: stored %s has %d bytes", ErrTooLarge, c, fi.Size())
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", c, err)
	}
	return b, nil
}

// Read returns the bytes of c's file, unverified. A missing file gives an
// error wrapping both ErrNotFound and fs.ErrNotExist.
func (s *Store) Read(c cid.Cid) ([]byte, error) {
	if err := CheckCID(c); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.Path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", c, err)
	}
	return b, nil
}

// Touch sets c's file's access and modification times to t.
func (s *Store) Touch(c cid.Cid, t time.Time) error {
	if err := os.Chtimes(s.Path(c), t, t); err != nil {
		return fmt.Errorf("touch chunk %s: %w", c, err)
	}
	return nil
}

// Remove deletes c's file. Removing a missing chunk is not an error.
func (s *Store) Remove(c cid.Cid) error {
	if err := CheckCID(c); err != nil {
		return err
	}
	if err := os.Remove(s.Path(c)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove chunk %s: %w", c, err)
	}
	return nil
}

// List returns every chunk file, in no particular order. Temporary files
// and names that are not chunk CIDs in their shard are skipped (and
// logged), never returned.
func (s *Store) List() ([]Entry, error) {
	var out []Entry
	err := s.walk(func(shard, name string, d fs.DirEntry) error {
		if strings.HasPrefix(name, TempPrefix) {
			return nil
		}
		c, err := ParseName(name)
		if err != nil || Shard(name) != shard || !d.Type().IsRegular() {
			s.logger.Warn("ignoring unexpected file in chunk store", "path", filepath.Join(s.root, shard, name))
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since ReadDir
		}
		if err != nil {
			return fmt.Errorf("stat chunk %s: %w", name, err)
		}
		out = append(out, Entry{CID: c, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	return out, err
}

// RemoveTemp deletes the temporary files that writes interrupted by a
// crash left behind, if they were last modified before cutoff. A store
// shared with other processes passes a time well in the past (such as an
// hour ago), so that their writes in progress are left alone; its only
// user may pass a time in the future. It returns how many it removed.
func (s *Store) RemoveTemp(cutoff time.Time) (int, error) {
	removed := 0
	err := s.walk(func(shard, name string, d fs.DirEntry) error {
		if !strings.HasPrefix(name, TempPrefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			return nil // gone already, or maybe still being written
		}
		p := filepath.Join(s.root, shard, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove temp file: %w", err)
		}
		removed++
		return nil
	})
	return removed, err
}

// RemoveAllTemp deletes every temporary file, however recent: for a store
// whose user knows no write is in progress (it owns the directory, or
// holds the lock that writers take).
func (s *Store) RemoveAllTemp() (int, error) {
	return s.RemoveTemp(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
}

// walk calls fn for every entry of every shard directory (a two-character
// subdirectory of the root).
func (s *Store) walk(fn func(shard, name string, d fs.DirEntry) error) error {
	shards, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("list chunk store %s: %w", s.root, err)
	}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		p := filepath.Join(s.root, sh.Name())
		ents, err := os.ReadDir(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("list chunk store %s: %w", p, err)
		}
		for _, e := range ents {
			if err := fn(sh.Name(), e.Name(), e); err != nil {
				return err
			}
		}
	}
	return nil
}
