package catalog

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// checkFrames runs the frame check over data, fed to the scanner in
// pieces of step bytes.
func checkFrames(data []byte, step int) (Metadata, error) {
	md, err := ReadMetadata(bytes.NewReader(data), int64(len(data)), "x")
	if err != nil {
		return md, err
	}
	s := newFrameScanner(&md)
	if s == nil {
		return md, nil
	}
	for off := 0; off < len(data); off += step {
		s.Write(data[off:min(off+step, len(data))])
	}
	return md, s.finish(bytes.NewReader(data), &md)
}

// TestFrameCheckPieces: how the bytes are split across Writes changes
// nothing (a header may straddle two reads).
func TestFrameCheckPieces(t *testing.T) {
	for _, tt := range testFiles {
		data := readFile(t, filepath.Join("testdata", tt.file))
		whole, werr := checkFrames(data, len(data))
		for _, step := range []int{1, 3, 417, 4096} {
			md, err := checkFrames(data, step)
			if !errors.Is(err, werr) || md.DurationMS != whole.DurationMS {
				t.Errorf("%s in pieces of %d = %d ms, %v; whole = %d ms, %v", tt.file, step, md.DurationMS, err, whole.DurationMS, werr)
			}
		}
		cut := data[:len(data)*3/4]
		if _, err := checkFrames(cut, 1000); !errors.Is(err, ErrTruncated) {
			t.Errorf("%s cut to 3/4 = %v; want ErrTruncated", tt.file, err)
		}
	}
}

// FuzzCheckFrames feeds arbitrary files to the header reader and the
// frame check: no panic, no negative duration. Seeds: the committed test
// files in testdata, whole and cut.
func FuzzCheckFrames(f *testing.F) {
	for _, tt := range testFiles {
		data := readFile(f, filepath.Join("testdata", tt.file))
		f.Add(data[:min(len(data), 8192)])
		f.Add(data[:len(data)/2])
		if len(data) < 32<<10 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := checkFrames(data, 1+len(data)/7)
		if err == nil && md.DurationMS < 0 {
			t.Fatalf("duration %d ms", md.DurationMS)
		}
	})
}
