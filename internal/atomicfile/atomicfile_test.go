package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := WriteFile(p, []byte("one"), Options{Perm: 0o600, ModTime: mt}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), Options{Perm: 0o600, ModTime: mt}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "two" || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mt) {
		t.Errorf("after two writes: %q, mode %v, time %v; want \"two\", 0600, %v", b, fi.Mode(), fi.ModTime(), mt)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("directory holds %q; want only the file", got)
	}
}

// Abort leaves the target as it was and no temporary file.
func TestAbortKeepsTarget(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o644)
	f, err := Create(p, Options{TempPrefix: ".x-"})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half of the new"))
	if got := names(t, dir); len(got) != 2 || !strings.HasPrefix(got[0], ".x-") {
		t.Errorf("while writing, directory holds %q; want a .x- temp file and the target", got)
	}
	f.Abort()
	f.Abort()
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("target after Abort = %q; want \"old\"", b)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("after Abort, directory holds %q; want only the target", got)
	}
}

func TestMkdirAll(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b", "f")
	if err := WriteFile(p, []byte("x"), Options{}); err == nil {
		t.Error("WriteFile into a missing directory succeeded without MkdirAll")
	}
	if err := WriteFile(p, []byte("x"), Options{MkdirAll: true, NoSync: true}); err != nil {
		t.Fatalf("WriteFile with MkdirAll = %v", err)
	}
}
