package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chorus-music/chorus/tracker/store/sqlite"
)

// TestIngestBadInput runs `chorus ingest` on each kind of bad input, as an
// operator would by mistake: each is refused promptly with exit status 1,
// one message naming the file and the reason, no package prefixes.
func TestIngestBadInput(t *testing.T) {
	bin := buildChorus(t)
	data := t.TempDir()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.flac")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(testdata(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	vbr, flac := read("Vbr Artist - Vbr Title.mp3"), read("flac.flac")
	noise := make([]byte, 40<<10)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	noAudio := t.TempDir()
	write2 := filepath.Join(noAudio, "notes.txt")
	os.WriteFile(write2, []byte("liner notes"), 0o644)

	tests := []struct {
		name, path, reason string
	}{
		{"FIFO", fifo, "not a regular file (a FIFO); ingest reads audio files only"},
		{"empty file", write("empty.mp3", nil), "empty file"},
		{"directory without audio", noAudio, "no audio files in this directory"},
		{"truncated MP3", write("cut.mp3", vbr[:len(vbr)/10]), "truncated: its header declares 117 frames (3.056 s), the file holds"},
		{"truncated FLAC", write("cut.flac", flac[:len(flac)*6/10]), "truncated: the file ends inside a frame, after"},
		{"random bytes .mp3", write("noise.mp3", noise), "unsupported audio format: not WAV, Ogg Vorbis, MP3 or FLAC"},
		{"random bytes .flac", write("noise.flac", noise), "unsupported audio format: not WAV, Ogg Vorbis, MP3 or FLAC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			stdout, stderr, err := chorusRun(t, bin, data, "", "ingest", tt.path)
			if err == nil {
				t.Fatalf("ingest %s succeeded:\n%s", tt.path, stdout)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("ingest %s took %v; want a refusal at once", tt.name, d)
			}
			want := "chorus ingest: " + tt.path + ": " + tt.reason
			if !strings.Contains(stderr, want) {
				t.Errorf("ingest %s said:\n%s\nwant a line starting %q", tt.name, stderr, want)
			}
			if n := strings.Count(stderr, tt.path+":"); n != 1 {
				t.Errorf("ingest %s names the file in %d messages; want 1:\n%s", tt.name, n, stderr)
			}
			for _, prefix := range []string{"catalog:", "tracker:", "origin:"} {
				if strings.Contains(stderr, prefix) {
					t.Errorf("ingest %s message has the package prefix %q:\n%s", tt.name, prefix, stderr)
				}
			}
			if !strings.Contains(stderr, "chorus: 1 of 1 failed to ingest") {
				t.Errorf("ingest %s does not end with the count of failures:\n%s", tt.name, stderr)
			}
			t.Logf("%s", strings.TrimSpace(stderr))
		})
	}
	if got := chunkFiles(t, filepath.Join(data, "chunks")); len(got) != 0 {
		t.Errorf("refused ingests wrote %d chunks; want none", len(got))
	}
}

// TestIngestSameSourceOnce: one file ingested twice, and a copy of it
// under another name, is one track in the catalog and in search.
func TestIngestSameSourceOnce(t *testing.T) {
	bin := buildChorus(t)
	data := t.TempDir()
	src := testdata("mpeg.mp3")
	b, _ := os.ReadFile(src)
	cp := filepath.Join(t.TempDir(), "copy of mpeg.mp3")
	os.WriteFile(cp, b, 0o644)
	first := mustRun(t, bin, data, "", "ingest", "--quiet", src)
	second := mustRun(t, bin, data, "", "ingest", "--quiet", src, cp)
	if !strings.Contains(first, "\tadded\t") || strings.Count(second, "already in the catalog") != 2 {
		t.Fatalf("ingests said %q then %q; want added, then twice already in the catalog", first, second)
	}
	st, err := sqlite.Open(trackerHome{data}.db())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, n, err := st.SearchTracks(context.Background(), "Mpeg Title", 10, 0); err != nil || n != 1 {
		t.Errorf("SearchTracks(Mpeg Title) = %d tracks, %v; want 1", n, err)
	}
}

// chunkFiles returns the chunk file names under a chunk store directory
// (temporary files and the version file left out).
func chunkFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	shards, _ := os.ReadDir(dir)
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		ents, _ := os.ReadDir(filepath.Join(dir, sh.Name()))
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				out[e.Name()] = true
			}
		}
	}
	return out
}

// TestGCRefusesForeignCatalog: gc against a store that is not the one the
// chunks belong to (a mistyped --store) removes nothing.
func TestGCRefusesForeignCatalog(t *testing.T) {
	bin := buildChorus(t)
	data := t.TempDir()
	mustRun(t, bin, data, "", "ingest", "--quiet", testdata("flac.flac"))
	before := chunkFiles(t, filepath.Join(data, "chunks"))
	if len(before) == 0 {
		t.Fatal("ingest wrote no chunks")
	}
	if err := os.WriteFile(filepath.Join(data, "chunks-catalog"), []byte("some-other-catalog\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := chorusRun(t, bin, data, "", "gc")
	if err == nil || !strings.Contains(stderr, "belong to the catalog whose first signing key is some-other-catalog") {
		t.Errorf("gc against another catalog = %v, %q; want a refusal naming both catalogs", err, stderr)
	}
	if after := chunkFiles(t, filepath.Join(data, "chunks")); len(after) != len(before) {
		t.Errorf("refused gc left %d of %d chunks", len(after), len(before))
	}
}
