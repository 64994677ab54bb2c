package chunkstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Old layouts, as the origin and the cache wrote them before this package.
var oldLayouts = []struct {
	name  string
	shard func(name string) string
}{
	{"origin (last two characters)", func(n string) string { return n[len(n)-2:] }},
	{"cache (next-to-last two)", func(n string) string { return n[len(n)-3 : len(n)-1] }},
}

// writeOld writes n random chunks into dir in an old layout and returns
// them by CID string.
func writeOld(t *testing.T, dir string, n int, shard func(string) string) map[string][]byte {
	t.Helper()
	chunks := map[string][]byte{}
	for range n {
		data := make([]byte, 100+len(chunks))
		rand.Read(data)
		name := chunkCID(data).String()
		p := filepath.Join(dir, shard(name), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		chunks[name] = data
	}
	return chunks
}

// checkServes checks that s lists exactly chunks, reads each back, and
// holds each only in its own shard.
func checkServes(t *testing.T, s *Store, chunks map[string][]byte) {
	t.Helper()
	ents, err := s.List()
	if err != nil {
		t.Fatalf("List = %v", err)
	}
	if len(ents) != len(chunks) {
		t.Errorf("List = %d chunks; want %d", len(ents), len(chunks))
	}
	for _, e := range ents {
		if _, ok := chunks[e.CID.String()]; !ok {
			t.Errorf("List holds %s, never written", e.CID)
		}
	}
	for name, data := range chunks {
		c, err := ParseName(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(context.Background(), c)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Get(%s) = %d bytes, %v; want the %d bytes written", name, len(got), err, len(data))
		}
	}
	for _, f := range listFiles(t, s.Root()) {
		dir, name := filepath.Split(f)
		if _, ok := chunks[name]; ok && filepath.Clean(dir) != Shard(name) {
			t.Errorf("chunk file %s is outside its shard %s", f, Shard(name))
		}
	}
}

// TestOpenConvertsOldLayouts: a directory in each old layout opens, is
// converted, and serves every chunk; opening it again changes nothing.
func TestOpenConvertsOldLayouts(t *testing.T) {
	for _, lay := range oldLayouts {
		t.Run(lay.name, func(t *testing.T) {
			dir := t.TempDir()
			chunks := writeOld(t, dir, 200, lay.shard)
			// A stranger's file stays where it is.
			stranger := filepath.Join(dir, "ab", "README")
			os.MkdirAll(filepath.Dir(stranger), 0o755)
			if err := os.WriteFile(stranger, []byte("not a chunk"), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatalf("Open(old layout) = %v", err)
			}
			checkServes(t, s, chunks)
			if _, err := os.Stat(stranger); err != nil {
				t.Errorf("conversion removed a file that is not a chunk: %v", err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, VersionFile)); err != nil || string(b) != versionContent {
				t.Errorf("version file = %q, %v; want %q", b, err, versionContent)
			}
			s2, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatalf("second Open = %v", err)
			}
			checkServes(t, s2, chunks)
		})
	}
}

// TestConvertResumesAfterCrash: a conversion interrupted midway (some
// chunks moved, one in both places with a torn copy in its new shard, as a
// crash during a batch could leave) completes at the next Open and keeps
// the good copy of every chunk.
func TestConvertResumesAfterCrash(t *testing.T) {
	dir := t.TempDir()
	old := oldLayouts[0].shard
	chunks := writeOld(t, dir, 60, old)
	i := 0
	var torn string
	for name, data := range chunks {
		if Shard(name) == old(name) {
			continue
		}
		i++
		switch {
		case i <= 20: // already moved
			to := filepath.Join(dir, Shard(name), name)
			os.MkdirAll(filepath.Dir(to), 0o755)
			if err := os.Rename(filepath.Join(dir, old(name), name), to); err != nil {
				t.Fatal(err)
			}
		case torn == "": // a torn copy in the new place, the good one in the old
			torn = name
			to := filepath.Join(dir, Shard(name), name)
			os.MkdirAll(filepath.Dir(to), 0o755)
			if err := os.WriteFile(to, data[:7], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open(half converted) = %v", err)
	}
	checkServes(t, s, chunks)
}

func TestOpenRefusesUnknownVersion(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, VersionFile), []byte("chorus chunkstore 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Open(version 9) = %v; want ErrBadOptions", err)
	}
}

// TestOpenReadOnlyCopy: a read-only directory already in the layout (a
// synced copy an origin serves) opens and serves without its version file.
func TestOpenReadOnlyCopy(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes read-only directories anyway")
	}
	dir := t.TempDir()
	chunks := writeOld(t, dir, 10, Shard)
	os.Chmod(dir, 0o555)
	defer os.Chmod(dir, 0o755)
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open(read-only copy) = %v", err)
	}
	checkServes(t, s, chunks)
}
