package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDataDirOneOwner: while `chorus node` runs on a client data
// directory, a second node, a `chorus play --swarm` and a `chorus daemon`
// on the same directory refuse at once, naming the node's PID and what to do; once the
// node is killed (even with SIGKILL) the directory is free again.
func TestDataDirOneOwner(t *testing.T) {
	src := testdata("flac.flac")
	lt := startTracker(t, src)
	track := lt.ids["flac.flac"]
	dir := t.TempDir()

	nd := startProc(t, "node", testPassword+"\n", lt.bin, "node", "--tracker", lt.api, "--user", "bob", "--data", dir)
	nd.waitFor("; Ctrl-C to stop")

	wantHolder := fmt.Sprintf("in use by process %d (chorus node", nd.cmd.Process.Pid)
	for _, tt := range []struct {
		name, flag string
		args       []string
	}{
		{"second node", "--data", []string{"node", "--tracker", lt.api, "--user", "bob", "--data", dir}},
		{"play --swarm", "--data", lt.playArgs(dir, filepath.Join(t.TempDir(), "x.flac"), track, "--swarm")},
		{"daemon", "--config-dir", []string{"daemon", "--config-dir", dir, "--cache-dir", t.TempDir(), "--api", "127.0.0.1:0"}},
	} {
		name, args := tt.name, tt.args
		start := time.Now()
		_, errOut, err := chorusRun(t, lt.bin, lt.data, testPassword+"\n", args...)
		if err == nil {
			t.Errorf("%s on a directory in use succeeded; want a refusal", name)
			continue
		}
		if !strings.Contains(errOut, wantHolder) || !strings.Contains(errOut, "directory with "+tt.flag) || strings.Count(errOut, "in use by") != 1 {
			t.Errorf("%s said %q; want one message with %q and what to do (%s)", name, errOut, wantHolder, tt.flag)
		}
		t.Logf("%s refused: %s", name, strings.TrimSpace(errOut))
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s took %v to refuse; want at once", name, d)
		}
	}

	// A plain play beside the node works, and leaves the node's session
	// alone: it logs in on its own (the node owns the refresh token).
	session := filepath.Join(dir, "session.json")
	before, err := os.ReadFile(session)
	if err != nil {
		t.Fatalf("the node keeps no session: %v", err)
	}
	plain := filepath.Join(t.TempDir(), "plain.flac")
	mustRun(t, lt.bin, lt.data, testPassword+"\n", lt.playArgs(dir, plain, track)...)
	if after, _ := os.ReadFile(session); string(after) != string(before) {
		t.Error("a plain play beside the node rewrote the node's session file")
	}

	// SIGKILL leaves no stale lock: the kernel drops it with the process.
	nd.kill()
	out := filepath.Join(t.TempDir(), "after.flac")
	mustRun(t, lt.bin, lt.data, testPassword+"\n", lt.playArgs(dir, out, track, "--swarm")...)
	want, _ := os.ReadFile(src)
	if got, _ := os.ReadFile(out); string(got) != string(want) {
		t.Fatalf("play --swarm after the node died wrote %d bytes; want the source's %d", len(got), len(want))
	}
}
