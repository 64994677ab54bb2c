package daemon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// MigrateCache moves a chunk cache left inside the config directory by
// older versions (Config/cache, beside the node identity) to
// Cache/cache. The node identity (Config/node) and the pinned tracker keys
// (Config/tracker-keys.json) stay where they are: moving or re-creating
// them would change the peer ID or silently re-pin the tracker's keys. It
// reports whether it moved anything. It never writes over an existing new
// cache: if both exist, it leaves the old one and says so.
func MigrateCache(p Paths, log *slog.Logger) (bool, error) {
	old := filepath.Join(p.Config, "cache")
	if filepath.Clean(old) == filepath.Clean(p.cacheDir()) {
		return false, nil
	}
	st, err := os.Stat(old)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("daemon: migrate cache: %w", err)
	}
	if !st.IsDir() {
		return false, nil
	}
	if _, err := os.Stat(p.cacheDir()); err == nil {
		log.Warn("an old chunk cache is still in the config directory, and a cache already exists in the cache directory; using the new one (delete the old one to reclaim its space)",
			"old", old, "new", p.cacheDir())
		return false, nil
	}
	if err := os.MkdirAll(p.Cache, 0o700); err != nil {
		return false, fmt.Errorf("daemon: migrate cache: %w", err)
	}
	err = os.Rename(old, p.cacheDir())
	if errors.Is(err, syscall.EXDEV) {
		// Another filesystem: copy into a temporary name, rename it into
		// place, then remove the old tree.
		tmp := p.cacheDir() + ".migrating"
		if err := os.RemoveAll(tmp); err != nil {
			return false, fmt.Errorf("daemon: migrate cache: %w", err)
		}
		if err := copyTree(old, tmp); err != nil {
			return false, fmt.Errorf("daemon: migrate cache from %s: %w", old, err)
		}
		if err := os.Rename(tmp, p.cacheDir()); err != nil {
			return false, fmt.Errorf("daemon: migrate cache: %w", err)
		}
		err = os.RemoveAll(old)
	}
	if err != nil {
		return false, fmt.Errorf("daemon: migrate cache from %s to %s: %w", old, p.cacheDir(), err)
	}
	log.Info("moved the chunk cache out of the config directory", "from", old, "to", p.cacheDir())
	return true, nil
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
