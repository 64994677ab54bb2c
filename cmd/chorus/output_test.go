package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPlayOutSpecialFiles plays into a character device (a clone of
// /dev/null, major 1 minor 3, made with mknod in a temp dir) and into a
// FIFO, with the built binary: both are still what they were afterwards,
// and the FIFO's reader receives exactly the track's bytes.
func TestPlayOutSpecialFiles(t *testing.T) {
	src := testdata("flac.flac")
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lt := startTracker(t, src)
	track := lt.ids["flac.flac"]
	dir := t.TempDir()

	t.Run("character device", func(t *testing.T) {
		dev := filepath.Join(dir, "null")
		if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			if errors.Is(err, unix.EPERM) && os.Getenv("CI") == "" {
				t.Skipf("mknod needs CAP_MKNOD: %v", err)
			}
			t.Fatalf("mknod: %v", err)
		}
		mustRun(t, lt.bin, lt.data, testPassword+"\n", lt.playArgs(t.TempDir(), dev, track)...)
		var st unix.Stat_t
		if err := unix.Stat(dev, &st); err != nil {
			t.Fatalf("stat %s after play: %v", dev, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(uint64(st.Rdev)) != 1 || unix.Minor(uint64(st.Rdev)) != 3 {
			t.Fatalf("after play, %s has mode %#o rdev %d,%d; want still the character device 1,3",
				dev, st.Mode, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("play left files beside the device: %v", ents)
		}
	})

	t.Run("FIFO", func(t *testing.T) {
		fifo := filepath.Join(dir, "pipe")
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() {
			f, err := os.Open(fifo) // waits for the writer
			if err != nil {
				got <- nil
				return
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			got <- b
		}()
		mustRun(t, lt.bin, lt.data, testPassword+"\n", lt.playArgs(t.TempDir(), fifo, track)...)
		if b := <-got; !bytes.Equal(b, want) {
			t.Fatalf("the FIFO's reader got %d bytes; want the %d bytes of the source", len(b), len(want))
		}
		fi, err := os.Lstat(fifo)
		if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Fatalf("after play, %s = %v, %v; want still a FIFO", fifo, fi, err)
		}
	})

	t.Run("regular file kept on failure", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "old.flac")
		if err := os.WriteFile(out, []byte("what was there"), 0o640); err != nil {
			t.Fatal(err)
		}
		if _, _, err := chorusRun(t, lt.bin, lt.data, "wrong password\n", lt.playArgs(t.TempDir(), out, track)...); err == nil {
			t.Fatal("play with a wrong password succeeded")
		}
		if b, _ := os.ReadFile(out); string(b) != "what was there" {
			t.Fatalf("a failed play changed the existing output file to %q", b)
		}
		if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
			t.Errorf("a failed play left files: %v", ents)
		}
		mustRun(t, lt.bin, lt.data, testPassword+"\n", lt.playArgs(t.TempDir(), out, track)...)
		fi, err := os.Stat(out)
		if b, _ := os.ReadFile(out); err != nil || !bytes.Equal(b, want) || fi.Mode().Perm() != 0o640 {
			t.Fatalf("after play, %s = %d bytes, mode %v; want the source's %d bytes and mode 0640", out, len(b), fi.Mode(), len(want))
		}
	})
}

// TestPlayOutRefusedBeforeDownload: --out naming a directory or a path in a
// missing directory is refused before the play reaches the network (the
// tracker address here has nothing listening, so any later check would
// fail with a connection error instead).
func TestPlayOutRefusedBeforeDownload(t *testing.T) {
	bin := buildChorus(t)
	dir := t.TempDir()
	dead := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	for _, tt := range []struct {
		out, want string
	}{
		{dir + "/", "names a directory"},
		{dir, "is a directory"},
		{filepath.Join(dir, "missing", "x.flac"), "does not exist; create it first"},
	} {
		_, errOut, err := chorusRun(t, bin, dir, testPassword+"\n", "play", "--tracker", dead, "--user", "bob",
			"--data", t.TempDir(), "--out", tt.out, "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
		if err == nil {
			t.Errorf("play --out %s succeeded; want a refusal", tt.out)
			continue
		}
		if !strings.Contains(errOut, tt.want) || strings.Contains(errOut, "connection refused") {
			t.Errorf("play --out %s said %q; want %q, before any connection", tt.out, errOut, tt.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("refused plays left files in %s: %v", dir, ents)
	}
}
