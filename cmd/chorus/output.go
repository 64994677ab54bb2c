package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/chorus-music/chorus/internal/atomicfile"
)

// output is where `chorus play --out` writes the decrypted track. It is
// checked and opened before anything is downloaded:
//
//   - "-" is standard output;
//   - an existing file that is not a regular file (a character device such
//     as /dev/null, a FIFO, a socket's peer...) is opened for writing and
//     written into: it is never removed, truncated or renamed over;
//   - anything else is a regular file, written atomically: a temporary file
//     in the same directory, renamed over the target once the whole track
//     is in it, so a failed play leaves the target as it was. A symbolic
//     link is followed, so the file it points to is replaced, not the link.
//
// A path naming a directory ("DIR/" or an existing directory), in a
// directory that does not exist, or a regular file we may not write, is
// refused with an error that says so.
type output struct {
	stdout io.Writer // for "-"
	direct *os.File  // an existing non-regular file
	atomic *atomicfile.File
}

// openOutput checks path and opens it as described on output. Opening a
// FIFO waits for its reader; ctx ends that wait.
func openOutput(ctx context.Context, path string, stdout io.Writer) (*output, error) {
	if path == "-" {
		return &output{stdout: stdout}, nil
	}
	if strings.HasSuffix(path, string(os.PathSeparator)) || strings.HasSuffix(path, "/") {
		return nil, fmt.Errorf("--out %s names a directory; give a file name, such as %s", path, filepath.Join(path, "track.flac"))
	}
	fi, err := os.Stat(path) // follows links: a link to /dev/null is a device
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("--out %s is a directory; give a file name, such as %s", path, filepath.Join(path, "track.flac"))
	case err == nil && !fi.Mode().IsRegular():
		f, err := openSpecial(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("--out %s (%s): %w", path, kindOf(fi.Mode()), err)
		}
		return &output{direct: f}, nil
	case err == nil:
		// An existing regular file: replace the file the path resolves to,
		// keeping its mode, and only if we could write it in place.
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, fmt.Errorf("--out %s: %w", path, err)
		}
		if err := checkWritable(real); err != nil {
			return nil, fmt.Errorf("--out %s: not writable (%w); choose another file or fix its permissions", path, err)
		}
		return createAtomic(real, fi.Mode().Perm())
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		if di, err := os.Stat(dir); err != nil || !di.IsDir() {
			return nil, fmt.Errorf("--out %s: directory %s does not exist; create it first", path, dir)
		}
		return createAtomic(path, 0o644)
	default:
		return nil, fmt.Errorf("--out %s: %w", path, err)
	}
}

func createAtomic(path string, perm fs.FileMode) (*output, error) {
	f, err := atomicfile.Create(path, atomicfile.Options{Perm: perm, TempPrefix: ".chorus-play-"})
	if err != nil {
		return nil, fmt.Errorf("--out %s: cannot create a file in its directory: %w", path, err)
	}
	return &output{atomic: f}, nil
}

// openSpecial opens an existing non-regular file for writing, without
// creating or truncating it. A FIFO's open blocks until a reader opens it;
// ctx (Ctrl-C) ends the wait.
func openSpecial(ctx context.Context, path string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.f, r.err
	case <-ctx.Done():
		// The open may still succeed later; close what it returns.
		go func() {
			if r := <-done; r.f != nil {
				r.f.Close()
			}
		}()
		return nil, fmt.Errorf("waiting for a reader: %w", ctx.Err())
	}
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

// Write writes the next bytes of the track.
func (o *output) Write(p []byte) (int, error) {
	switch {
	case o.stdout != nil:
		return o.stdout.Write(p)
	case o.direct != nil:
		return o.direct.Write(p)
	}
	return o.atomic.Write(p)
}

// Commit finishes the output: a regular file is synced and renamed into
// place; a device or FIFO is closed.
func (o *output) Commit() error {
	switch {
	case o.direct != nil:
		return o.direct.Close()
	case o.atomic != nil:
		return o.atomic.Commit()
	}
	return nil
}

// Abort drops what was written to a regular file, leaving the target as
// it was; a device or FIFO is closed. It does nothing after Commit.
func (o *output) Abort() {
	switch {
	case o.direct != nil:
		o.direct.Close()
	case o.atomic != nil:
		o.atomic.Abort()
	}
}

// copyOutput copies r to o and commits it, or aborts it on failure.
func copyOutput(o *output, r io.Reader) error {
	if _, err := io.Copy(o, r); err != nil {
		o.Abort()
		return fmt.Errorf("play: %w", err)
	}
	if err := o.Commit(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}
