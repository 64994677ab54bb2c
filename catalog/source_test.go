//go:build unix

package catalog

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestInspectWholeFiles: every committed test file passes, with the
// duration its header declares (or, for the MP3 without a Xing header,
// the one its frames hold).
func TestInspectWholeFiles(t *testing.T) {
	for _, tt := range testFiles {
		src, err := Inspect(context.Background(), filepath.Join("testdata", tt.file))
		if err != nil {
			t.Errorf("Inspect(%q) = %v; want nil", tt.file, err)
			continue
		}
		if d := src.Metadata.DurationMS - tt.durationMS; d < -tt.tolMS || d > tt.tolMS {
			t.Errorf("Inspect(%q).DurationMS = %d; want %d ± %d", tt.file, src.Metadata.DurationMS, tt.durationMS, tt.tolMS)
		}
		if src.Hash == "" || src.Size == 0 {
			t.Errorf("Inspect(%q) = %+v; want a hash and a size", tt.file, src)
		}
	}
}

// cut writes the first n bytes (or, for n < 0, all but the last -n) of a
// test file under name in dir.
func cut(t *testing.T, dir, file, name string, n int) string {
	t.Helper()
	b := readFile(t, filepath.Join("testdata", file))
	if n < 0 {
		n = len(b) + n
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b[:n], 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInspectRefuses checks each kind of bad source: the sentinel, and
// the whole message, said once: "PATH: reason", no package prefix, the
// path once.
func TestInspectRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.mp3")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.flac")
	os.WriteFile(empty, nil, 0o644)
	random := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	noise := filepath.Join(dir, "noise.mp3")
	os.WriteFile(noise, random, 0o644)
	noiseFLAC := filepath.Join(dir, "noise.flac")
	os.WriteFile(noiseFLAC, random, 0o644)
	vbr := readFile(t, filepath.Join("testdata", "Vbr Artist - Vbr Title.mp3"))
	flac := readFile(t, filepath.Join("testdata", "flac.flac"))
	mpeg := readFile(t, filepath.Join("testdata", "mpeg.mp3"))
	old := readFile(t, filepath.Join("testdata", "id3v1.mp3"))
	wav := readFile(t, filepath.Join("testdata", "Test Artist - Wave Title.wav"))
	damaged := filepath.Join(dir, "damaged.mp3")
	holed := append([]byte(nil), mpeg...)
	clear(holed[len(holed)/3 : len(holed)/3+2000])
	os.WriteFile(damaged, holed, 0o644)

	tests := []struct {
		name string
		path string
		want error
		msg  string // what the message says after "PATH: "
	}{
		{"FIFO", fifo, ErrNotRegular, "not a regular file (a FIFO); ingest reads audio files only"},
		{"character device", "/dev/null", ErrNotRegular, "not a regular file (a character device); ingest reads audio files only"},
		{"directory", dir, ErrNotRegular, "not a regular file (a directory); ingest reads audio files only"},
		{"empty", empty, ErrEmpty, "empty file"},
		{"random bytes .mp3", noise, ErrUnsupportedAudio, "unsupported audio format: not WAV, Ogg Vorbis, MP3 or FLAC (no known signature at its start)"},
		{"random bytes .flac", noiseFLAC, ErrUnsupportedAudio, "unsupported audio format: not WAV, Ogg Vorbis, MP3 or FLAC"},
		{"VBR MP3 cut to a tenth", cut(t, dir, "Vbr Artist - Vbr Title.mp3", "vbr.mp3", len(vbr)/10), ErrTruncated, "truncated: its header declares"},
		{"CBR MP3 (Info) cut to a tenth", cut(t, dir, "mpeg.mp3", "cbr.mp3", len(mpeg)/10), ErrTruncated, "truncated: its header declares"},
		{"MP3 with a hole", damaged, ErrDamaged, "damaged: the MPEG frames stop at byte"},
		{"MP3 without Xing cut mid-frame", cut(t, dir, "id3v1.mp3", "old.mp3", len(old)/2+7), ErrTruncated, "truncated: the file ends inside a frame"},
		{"FLAC cut to a tenth", cut(t, dir, "flac.flac", "tenth.flac", len(flac)/10), ErrTruncated, "truncated: the file ends inside a frame"},
		{"FLAC short of its last bytes", cut(t, dir, "flac.flac", "short.flac", -3), ErrTruncated, "truncated: the file ends inside a frame"},
		{"Ogg Vorbis cut at 3/4", cut(t, dir, "vorbis.ogg", "cut.ogg", 11000), ErrTruncated, "truncated: the last whole Ogg page does not end the stream, after"},
		{"WAV cut in half", cut(t, dir, "Test Artist - Wave Title.wav", "half.wav", len(wav)/2), ErrTruncated, "truncated: its data chunk declares 3.000 s of audio, the file holds 1.499 s"},
		{"missing", filepath.Join(dir, "nope.wav"), os.ErrNotExist, "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := Inspect(context.Background(), tt.path)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Inspect(%s) still running after 10 s; want a refusal at once", tt.name)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Inspect(%s) = %v; want %v", tt.name, err, tt.want)
			}
			var ie *IngestError
			if !errors.As(err, &ie) || ie.Path != tt.path {
				t.Errorf("Inspect(%s) = %#v; want an *IngestError for %q", tt.name, err, tt.path)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.path+": "+tt.msg) {
				t.Errorf("Inspect(%s) says %q; want %q", tt.name, msg, tt.path+": "+tt.msg+"...")
			}
			if strings.Count(msg, tt.path) != 1 || strings.Contains(msg, "catalog:") {
				t.Errorf("Inspect(%s) says %q; want the path once and no package prefix", tt.name, msg)
			}
			t.Logf("%s", msg)
		})
	}
}

// TestIngestRefusesTruncatedBeforeAnyChunk: the check happens before any
// chunk reaches the sink.
func TestIngestRefusesTruncatedBeforeAnyChunk(t *testing.T) {
	p := cut(t, t.TempDir(), "flac.flac", "tenth.flac", 10000)
	sink := newMemSink()
	if _, err := Ingest(context.Background(), IngestOptions{Path: p, Key: fixedKey(1), Sink: sink}); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Ingest(truncated) = %v; want ErrTruncated", err)
	}
	if n := len(sink.chunks); n != 0 {
		t.Errorf("Ingest(truncated) put %d chunks; want none", n)
	}
}
