package chunkstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// convert brings the directory into this package's layout, unless its
// version file says it is already there: every chunk found in a shard that
// is not its own (the origin's old layout sharded by the last two
// characters) is renamed into its shard. A copy already in place that
// still verifies wins and the other is removed; otherwise the moved file
// replaces it. Only then is the version file written, so a crash midway
// leaves a directory that the next Open converts further, and every chunk
// stays readable by one layout or the other meanwhile.
func (s *Store) convert() error {
	vpath := filepath.Join(s.root, VersionFile)
	b, err := os.ReadFile(vpath)
	switch {
	case err == nil && bytes.Equal(b, []byte(versionContent)):
		return nil
	case err == nil:
		return fmt.Errorf("%w: %s holds an unknown layout version %q", ErrBadOptions, vpath, firstLine(b))
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read chunk store version: %w", err)
	}
	moved, dropped := 0, 0
	err = s.walk(func(shard, name string, d fs.DirEntry) error {
		if strings.HasPrefix(name, ".") || !d.Type().IsRegular() || Shard(name) == shard {
			return nil
		}
		c, err := ParseName(name)
		if err != nil {
			return nil // not ours; List warns about it
		}
		from := filepath.Join(s.root, shard, name)
		to := s.Path(c)
		if old, err := os.ReadFile(to); err == nil && Verify(c, old) {
			if err := os.Remove(from); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("convert chunk store: %w", err)
			}
			dropped++
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("convert chunk store: %w", err)
		}
		if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("convert chunk store: %w", err)
		}
		moved++
		return nil
	})
	if err != nil {
		return err
	}
	if moved+dropped > 0 {
		if err := syncFS(s.root); err != nil {
			return fmt.Errorf("convert chunk store: sync: %w", err)
		}
		s.logger.Info("chunk store converted to the current layout", "dir", s.root, "moved", moved, "duplicates_removed", dropped)
	}
	// Remove shard directories the conversion emptied; a non-empty one
	// fails to be removed, which is what we want.
	if ents, err := os.ReadDir(s.root); err == nil {
		for _, e := range ents {
			if e.IsDir() && len(e.Name()) == 2 {
				os.Remove(filepath.Join(s.root, e.Name()))
			}
		}
	}
	if err := writeFileAtomic(vpath, []byte(versionContent), WriteOptions{Durability: SyncAll}); err != nil {
		if moved+dropped == 0 && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
			// A read-only copy already in this layout (an origin serving a
			// synced directory) is served as it is; the next writable Open
			// records the version.
			s.logger.Warn("chunk store is read-only; its layout version is not recorded", "dir", s.root, "err", err)
			return nil
		}
		return fmt.Errorf("write chunk store version: %w", err)
	}
	return nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
