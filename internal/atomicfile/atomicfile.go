package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultTempPrefix starts the name of a temporary file when
// Options.TempPrefix is empty.
const DefaultTempPrefix = ".tmp-"

// Options configures Create and WriteFile. The zero value syncs the file
// and its directory and gives mode 0644.
type Options struct {
	// Perm is the file's mode; zero means 0644.
	Perm fs.FileMode
	// NoSync skips the fsync of the file before the rename (and of the
	// directory after it): the caller syncs later, or needs no durability.
	NoSync bool
	// NoSyncDir skips only the directory's fsync: a power loss may forget
	// the file, never tear it.
	NoSyncDir bool
	// ModTime, if not zero, is set on the file before the rename.
	ModTime time.Time
	// TempPrefix starts the temporary file's name; empty means
	// DefaultTempPrefix. It should start with a dot, so that listings
	// can tell temporary files apart.
	TempPrefix string
	// MkdirAll makes the file's directory if it is missing.
	MkdirAll bool
}

// File is a file being written in place of path; nothing is visible at
// path until Commit.
type File struct {
	*os.File
	path string
	opts Options
	done bool
}

// Create starts writing path: it makes a temporary file in path's
// directory, which must exist unless opts.MkdirAll.
func Create(path string, opts Options) (*File, error) {
	dir := filepath.Dir(path)
	prefix := opts.TempPrefix
	if prefix == "" {
		prefix = DefaultTempPrefix
	}
	f, err := os.CreateTemp(dir, prefix+"*")
	if errors.Is(err, fs.ErrNotExist) && opts.MkdirAll {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		f, err = os.CreateTemp(dir, prefix+"*")
	}
	if err != nil {
		return nil, err
	}
	return &File{File: f, path: path, opts: opts}, nil
}

// Commit syncs the file (unless NoSync), renames it over the target and
// syncs the directory (unless NoSync or NoSyncDir). On failure the
// temporary file is removed.
func (f *File) Commit() (err error) {
	if f.done {
		return errors.New("atomicfile: commit after commit or abort")
	}
	f.done = true
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.File.Close()
			os.Remove(tmp)
		}
	}()
	perm := f.opts.Perm
	if perm == 0 {
		perm = 0o644
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if !f.opts.NoSync {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.File.Close(); err != nil {
		return err
	}
	if !f.opts.ModTime.IsZero() {
		if err = os.Chtimes(tmp, f.opts.ModTime, f.opts.ModTime); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, f.path); err != nil {
		return err
	}
	if f.opts.NoSync || f.opts.NoSyncDir {
		return nil
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort removes the temporary file; the target is untouched. Abort after
// Commit does nothing, so it may be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
}

// WriteFile writes data as path, atomically (Create, Write, Commit).
func WriteFile(path string, data []byte, opts Options) error {
	f, err := Create(path, opts)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// SyncDir fsyncs a directory so that a rename in it survives a crash.
// File systems that refuse fsync on directories are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
