package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchTrackerProfiles runs a short `chorus bench tracker` on SQLite
// with the profile flags: the report has its key row without errors, and
// each profile is written (pprof's gzip-compressed protocol buffers).
func TestBenchTrackerProfiles(t *testing.T) {
	bin := buildChorus(t)
	dir := t.TempDir()
	files := map[string]string{}
	args := []string{"bench", "tracker", "--routes", "key", "--rates", "200", "--duration", "200ms", "--logins", "0",
		"--argon2-time", "1", "--argon2-memory", "64", "--argon2-threads", "1"}
	for _, f := range []string{"cpuprofile", "memprofile", "blockprofile", "mutexprofile"} {
		files[f] = filepath.Join(dir, f+".pb.gz")
		args = append(args, "--"+f, files[f])
	}
	out := mustRun(t, bin, t.TempDir(), "", args...)
	var keyRow []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[0] == "key" {
			keyRow = f
		}
	}
	if keyRow == nil || keyRow[1] != "200" || keyRow[4] != "0" {
		t.Fatalf("report has no key row at 200/s without errors:\n%s", out)
	}
	for flag, path := range files {
		b, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("--%s wrote %d bytes, %v; want a gzip-compressed profile", flag, len(b), err)
		}
	}
	// A profile that cannot be written is an error naming its flag.
	_, errOut, err := chorusRun(t, bin, t.TempDir(), "", "bench", "tracker", "--routes", "key", "--rates", "100", "--duration", "100ms",
		"--logins", "0", "--argon2-time", "1", "--argon2-memory", "64", "--argon2-threads", "1",
		"--blockprofile", filepath.Join(dir, "no-such-dir", "block.pb.gz"))
	if err == nil || !strings.Contains(errOut, "--blockprofile") {
		t.Errorf("bench tracker --blockprofile into a missing directory = %v, stderr %q; want an error naming the flag", err, errOut)
	}
}
