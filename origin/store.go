package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/chorus-music/chorus/catalog"
)

// tempPrefix starts the name of every file a Put is still writing. No CID
// string starts with a dot, so a temp file can never be mistaken for a chunk.
const tempPrefix = ".tmp-"

// DirStore is a content-addressed directory of encrypted chunks. A chunk
// lives at root/<last two characters of its CID string>/<CID string>.
//
// Writes go to a temp file in the chunk's own directory, are fsynced and
// then renamed into place, and the directory is fsynced: a crash leaves at
// worst a stale ".tmp-*" file, never a torn chunk under its final name.
// Several goroutines (or processes) may Put the same chunk at once: each
// rename installs identical bytes.
//
// A DirStore holds no state besides its root and is safe for concurrent use.
type DirStore struct {
	root string
}

var _ catalog.ChunkSink = (*DirStore)(nil)

// OpenDirStore opens (creating it if needed) the chunk store rooted at root.
func OpenDirStore(root string) (*DirStore, error) {
	if root == "" {
		return nil, fmt.Errorf("%w: empty store root", ErrBadOptions)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("origin: store root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("origin: create store root: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("origin: store root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: store root %q is not a directory", ErrBadOptions, abs)
	}
	return &DirStore{root: abs}, nil
}

// Root returns the store's absolute root directory.
func (s *DirStore) Root() string { return s.root }

// CheckChunkCID reports (as ErrBadCID) whether c is not the kind of CID
// chunks are named by: CIDv1, raw codec, sha2-256.
func CheckChunkCID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined", ErrBadCID)
	}
	if c.Version() != 1 || c.Type() != cid.Raw || c.Prefix().MhType != mh.SHA2_256 {
		return fmt.Errorf("%w: %s is not CIDv1 raw sha2-256", ErrBadCID, c)
	}
	return nil
}

// path returns where c lives. c must have passed CheckChunkCID, whose base32
// string form holds only [a-z2-7], so it cannot escape the root.
func (s *DirStore) path(c cid.Cid) string {
	name := c.String()
	return filepath.Join(s.root, name[len(name)-2:], name)
}

// Put stores data under c. It implements catalog.ChunkSink: it fails with
// ErrCIDMismatch if data does not hash to c, and returns nil at once if the
// chunk is already stored.
func (s *DirStore) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := checkPut(ctx, c, data); err != nil {
		return err
	}
	return s.put(c, data, true)
}

// checkPut validates a chunk before it is stored: the CID's kind, the size
// bound, the bytes against the CID, and the context.
func checkPut(ctx context.Context, c cid.Cid, data []byte) error {
	if err := CheckChunkCID(c); err != nil {
		return err
	}
	if len(data) > catalog.MaxChunkSize {
		return fmt.Errorf("%w: %s has %d bytes, limit %d", ErrTooLarge, c, len(data), catalog.MaxChunkSize)
	}
	if !catalog.VerifyCID(c, data) {
		return fmt.Errorf("%w: %s", ErrCIDMismatch, c)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("origin: put %s: %w", c, err)
	}
	return nil
}

// put stores verified data under c; durable fsyncs the file and directory
// before returning. A chunk already present is kept only if its bytes still
// hash to c: a file torn by a crash before it was synced is rewritten.
func (s *DirStore) put(c cid.Cid, data []byte, durable bool) error {
	final := s.path(c)
	if isRegular(final) {
		if old, err := os.ReadFile(final); err == nil && catalog.VerifyCID(c, old) {
			return nil
		}
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("origin: put %s: %w", c, err)
	}
	if err := writeFileAtomic(dir, final, data, 0o644, durable); err != nil {
		return fmt.Errorf("origin: put %s: %w", c, err)
	}
	return nil
}

// Batch returns a sink for many chunks at once, such as one track's
// ingest: its Put renames each chunk into place without an fsync per file,
// and Sync makes everything written so far durable with one syncfs(2). A
// crash before Sync can leave a torn file under a chunk's name; a later Put
// of that chunk rewrites it, and nothing refers to the chunk until the
// ingest that called Sync commits. Readers never see a partial write: the
// rename still happens after the write.
func (s *DirStore) Batch() *Batch { return &Batch{s: s} }

// Batch is a DirStore sink with one sync at the end; see DirStore.Batch.
type Batch struct{ s *DirStore }

var _ catalog.ChunkSink = (*Batch)(nil)

// Put stores data under c without syncing it.
func (b *Batch) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := checkPut(ctx, c, data); err != nil {
		return err
	}
	return b.s.put(c, data, false)
}

// Sync makes every chunk written so far durable.
func (b *Batch) Sync(ctx context.Context) error {
	if err := syncFS(b.s.root); err != nil {
		return fmt.Errorf("origin: sync store %s: %w", b.s.root, err)
	}
	return nil
}

// writeFileAtomic writes data to a temp file in dir, fsyncs it (if
// durable), renames it to final and fsyncs dir (if durable). On failure it
// removes the temp file.
func writeFileAtomic(dir, final string, data []byte, perm os.FileMode, durable bool) (err error) {
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if durable {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, final); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		// Some file systems refuse fsync on directories; the rename has
		// still happened, so only report real I/O errors.
		return err
	}
	return nil
}

func isRegular(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// Open opens the chunk c for reading. It fails with ErrNotFound if the store
// does not hold it and ErrBadCID if c is not a chunk CID. The caller closes
// the file.
func (s *DirStore) Open(c cid.Cid) (*os.File, os.FileInfo, error) {
	if err := CheckChunkCID(c); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(s.path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, c)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("origin: open %s: %w", c, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("origin: stat %s: %w", c, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s is not a regular file", ErrNotFound, c)
	}
	return f, fi, nil
}

// Has reports whether the store holds c.
func (s *DirStore) Has(c cid.Cid) bool {
	return CheckChunkCID(c) == nil && isRegular(s.path(c))
}

// Get reads the whole chunk c. It does not re-verify the bytes against c.
func (s *DirStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("origin: get %s: %w", c, err)
	}
	f, fi, err := s.Open(c)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > catalog.MaxChunkSize {
		return nil, fmt.Errorf("%w: stored %s has %d bytes", ErrTooLarge, c, fi.Size())
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("origin: read %s: %w", c, err)
	}
	return b, nil
}

// RemoveTemp deletes the ".tmp-*" files that Puts interrupted by a crash
// left behind, if they were last written before cutoff (pass a time well in
// the past, such as an hour ago by the caller's clock, so that Puts still
// running in other processes are left alone). It returns how many it
// removed.
func (s *DirStore) RemoveTemp(cutoff time.Time) (int, error) {
	shards, err := os.ReadDir(s.root)
	if err != nil {
		return 0, fmt.Errorf("origin: list store: %w", err)
	}
	removed := 0
	for _, shard := range shards {
		if !shard.IsDir() {
			continue
		}
		dir := filepath.Join(s.root, shard.Name())
		entries, err := os.ReadDir(dir)
		if err != nil {
			return removed, fmt.Errorf("origin: list store: %w", err)
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), tempPrefix) {
				continue
			}
			fi, err := e.Info()
			if err != nil || !fi.ModTime().Before(cutoff) {
				continue // gone already, or maybe still being written
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("origin: remove temp file: %w", err)
			}
			removed++
		}
	}
	return removed, nil
}
