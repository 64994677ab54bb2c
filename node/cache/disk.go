package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// tmpPrefix starts the name of every temporary file. Final chunk names are
// base32 CIDs and never start with a dot.
const tmpPrefix = ".tmp-"

// DiskStore reads, writes, removes and lists chunk files under one
// directory. It knows nothing of size bounds or eviction, and it does not
// verify content: Cache does. Its methods are safe for concurrent use as far
// as the filesystem is: a write is atomic (temporary file, fsync, rename).
type DiskStore struct {
	dir    string
	logger *slog.Logger
}

// DiskEntry describes one chunk file.
type DiskEntry struct {
	CID     cid.Cid
	Size    int64
	ModTime time.Time
}

// OpenDiskStore creates dir if needed and removes temporary files left by
// writes that a crash interrupted. A nil logger discards.
func OpenDiskStore(dir string, logger *slog.Logger) (*DiskStore, error) {
	if dir == "" {
		return nil, errors.New("cache: empty directory")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: create %s: %w", dir, err)
	}
	s := &DiskStore{dir: dir, logger: logger}
	if err := s.walk(func(shard, name string, _ fs.DirEntry) error {
		if !strings.HasPrefix(name, tmpPrefix) {
			return nil
		}
		p := filepath.Join(s.dir, shard, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cache: remove leftover %s: %w", p, err)
		}
		s.logger.Debug("removed leftover temporary file", "path", p)
		return nil
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *DiskStore) Dir() string { return s.dir }

// shardOf returns the shard directory name for a CID string: its
// next-to-last two characters.
func shardOf(name string) string {
	if len(name) < 3 {
		return "__"
	}
	return name[len(name)-3 : len(name)-1]
}

// Path returns the final path of c's file.
func (s *DiskStore) Path(c cid.Cid) string {
	name := c.String()
	return filepath.Join(s.dir, shardOf(name), name)
}

// parseName turns a chunk file name back into its CID. It accepts only the
// canonical base32 string of a CIDv1 raw sha2-256.
func parseName(name string) (cid.Cid, error) {
	if strings.HasPrefix(name, ".") {
		return cid.Undef, fmt.Errorf("cache: %q is not a chunk name", name)
	}
	c, err := cid.Decode(name)
	if err != nil {
		return cid.Undef, fmt.Errorf("cache: %q is not a chunk name: %w", name, err)
	}
	if c.Version() != 1 || c.Type() != cid.Raw || c.Prefix().MhType != mh.SHA2_256 {
		return cid.Undef, fmt.Errorf("cache: %q is not a CIDv1 raw sha2-256", name)
	}
	if c.String() != name {
		return cid.Undef, fmt.Errorf("cache: %q is not in canonical form", name)
	}
	return c, nil
}

// Write stores data as c's file with modification time mtime. It writes a
// temporary file in the same directory, fsyncs it and renames it over the
// final name, so readers see either no file or the whole of it.
func (s *DiskStore) Write(c cid.Cid, data []byte, mtime time.Time) (err error) {
	final := s.Path(c)
	dir := filepath.Dir(final)
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cache: create %s: %w", dir, err)
		}
		f, err = os.CreateTemp(dir, tmpPrefix+"*")
	}
	if err != nil {
		return fmt.Errorf("cache: write %s: %w", c, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("cache: write %s: %w", c, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("cache: fsync %s: %w", c, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("cache: close %s: %w", c, err)
	}
	if err = os.Chtimes(tmp, mtime, mtime); err != nil {
		return fmt.Errorf("cache: set time of %s: %w", c, err)
	}
	if err = os.Rename(tmp, final); err != nil {
		return fmt.Errorf("cache: rename %s: %w", c, err)
	}
	return nil
}

// Read returns the bytes of c's file. A missing file gives an error
// wrapping fs.ErrNotExist.
func (s *DiskStore) Read(c cid.Cid) ([]byte, error) {
	b, err := os.ReadFile(s.Path(c))
	if err != nil {
		return nil, fmt.Errorf("cache: read %s: %w", c, err)
	}
	return b, nil
}

// Touch sets c's file's access and modification times to t.
func (s *DiskStore) Touch(c cid.Cid, t time.Time) error {
	if err := os.Chtimes(s.Path(c), t, t); err != nil {
		return fmt.Errorf("cache: touch %s: %w", c, err)
	}
	return nil
}

// Remove deletes c's file. Removing a missing file is not an error.
func (s *DiskStore) Remove(c cid.Cid) error {
	if err := os.Remove(s.Path(c)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache: remove %s: %w", c, err)
	}
	return nil
}

// List returns every chunk file, in no particular order. Temporary files
// and names that are not chunk CIDs in their right shard are skipped (and
// logged), never returned.
func (s *DiskStore) List() ([]DiskEntry, error) {
	var out []DiskEntry
	err := s.walk(func(shard, name string, d fs.DirEntry) error {
		if strings.HasPrefix(name, tmpPrefix) {
			return nil
		}
		c, err := parseName(name)
		if err != nil || shardOf(name) != shard || !d.Type().IsRegular() {
			s.logger.Warn("ignoring unexpected file in cache", "path", filepath.Join(s.dir, shard, name))
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since ReadDir
		}
		if err != nil {
			return fmt.Errorf("cache: stat %s: %w", name, err)
		}
		out = append(out, DiskEntry{CID: c, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	return out, err
}

// walk calls fn for every entry of every shard directory (a two-character
// subdirectory of dir).
func (s *DiskStore) walk(fn func(shard, name string, d fs.DirEntry) error) error {
	shards, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("cache: list %s: %w", s.dir, err)
	}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		p := filepath.Join(s.dir, sh.Name())
		ents, err := os.ReadDir(p)
		if err != nil {
			return fmt.Errorf("cache: list %s: %w", p, err)
		}
		for _, e := range ents {
			if err := fn(sh.Name(), e.Name(), e); err != nil {
				return err
			}
		}
	}
	return nil
}
