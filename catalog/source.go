package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// IngestError is the error of ingesting one source file: which file, and
// why, said once. Err wraps the sentinel that classifies the reason
// (ErrEmpty, ErrNotRegular, ErrUnsupportedAudio, ErrTruncated, ...).
type IngestError struct {
	Path string
	Err  error
}

func (e *IngestError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *IngestError) Unwrap() error { return e.Err }

// sourceErr wraps err as the IngestError of path, unless it already is
// one. An *fs.PathError loses its path, which the IngestError carries.
func sourceErr(path string, err error) error {
	var ie *IngestError
	if errors.As(err, &ie) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err // "no such file or directory", "permission denied"
	}
	return &IngestError{Path: path, Err: err}
}

// Source is a source file that Inspect read through and found whole.
type Source struct {
	Path     string
	Size     int64
	Hash     string // HashSource of its bytes
	Metadata Metadata
}

// readBlock is how much Inspect reads at once; the context is checked
// between blocks.
const readBlock = 1 << 20

// Inspect checks that path is a whole audio file and reads it once: it
// refuses what is not a regular file without reading it (a FIFO or a
// device could block or never end), an empty file, and an unknown format;
// it hashes the bytes (the ingest key) and, for MP3 and FLAC, checks the
// audio frames really present against what the header declares, so that a
// truncated or damaged file is refused (ErrTruncated, ErrDamaged) instead
// of entering the catalog with a duration it does not have. The duration
// it returns comes from the frames when the header declares none. Every
// error is an *IngestError.
func Inspect(ctx context.Context, path string) (*Source, error) {
	f, st, err := openSource(path)
	if err != nil {
		return nil, sourceErr(path, err)
	}
	defer f.Close()
	md, err := ReadMetadata(f, st.Size(), filepath.Base(path))
	if err != nil {
		return nil, sourceErr(path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, sourceErr(path, err)
	}
	h := sha256.New()
	scan := newFrameScanner(&md)
	w := io.Writer(h)
	if scan != nil {
		w = io.MultiWriter(h, scan)
	}
	buf := make([]byte, readBlock)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, sourceErr(path, fmt.Errorf("interrupted at byte %d: %w", n, err))
		}
		k, err := f.Read(buf)
		w.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, sourceErr(path, fmt.Errorf("read at byte %d: %w", n, err))
		}
	}
	if n != st.Size() {
		return nil, sourceErr(path, fmt.Errorf("file changed while being read: %d bytes, then %d", st.Size(), n))
	}
	if scan != nil {
		if err := scan.finish(f, &md); err != nil {
			return nil, sourceErr(path, err)
		}
	}
	return &Source{Path: path, Size: n, Hash: hex.EncodeToString(h.Sum(nil)), Metadata: md}, nil
}

// openSource opens path for reading only if it is a non-empty regular
// file. It opens without blocking (a FIFO's open would wait for a writer)
// and checks the file it got, not the name, so a swap between a check and
// the open cannot slip a FIFO through.
func openSource(path string) (*os.File, os.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%w (%s); ingest reads audio files only", ErrNotRegular, describeMode(st.Mode()))
	}
	f, err := openNonblocking(path)
	if err != nil {
		return nil, nil, err
	}
	st, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w (%s); ingest reads audio files only", ErrNotRegular, describeMode(st.Mode()))
	}
	if st.Size() == 0 {
		f.Close()
		return nil, nil, ErrEmpty
	}
	return f, st, nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}
