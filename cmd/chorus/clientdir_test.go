package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultClientDirSharesTheDaemonsCache: play --swarm and node with
// the default --data (the daemon's config directory) keep the cache in the
// daemon's cache directory, so a daemon started next finds it there, moves
// nothing, and shares what was played; the node after it still holds it.
func TestDefaultClientDirSharesTheDaemonsCache(t *testing.T) {
	lt := startTracker(t, testdata("flac.flac"))
	home := t.TempDir()
	env := userEnv(home)
	out := filepath.Join(t.TempDir(), "x.flac")
	args := []string{"play", "--swarm", "--tracker", lt.api, "--user", "bob", "--origin-ca", lt.ca, "--speed", "64", "--out", out, lt.ids["flac.flac"]}
	mustRunEnv(t, lt.bin, env, testPassword+"\n", args...)
	cache := filepath.Join(home, ".cache", "chorus", "cache")
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("play --swarm with the default --data left no cache in the daemon's cache directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, ".config", "chorus", "cache")); err == nil {
		t.Fatal("play --swarm with the default --data put a cache in the daemon's config directory")
	}

	mustRunEnv(t, lt.bin, env, testPassword+"\n", "login", "--tracker", lt.api, "--user", "bob")
	d := startProcEnv(t, "daemon", env, "", lt.bin, "daemon", "--api", "127.0.0.1:0", "--origin-ca", lt.ca)
	line := d.waitFor("daemon connected")
	if strings.Contains(d.output(), "moved the chunk cache") || !strings.Contains(line, "held_tracks=1") {
		t.Errorf("daemon after play --swarm: %q; want the played track held and nothing moved", line)
	}
	d.stop()

	n := startProcEnv(t, "node", env, testPassword+"\n", lt.bin, "node", "--tracker", lt.api, "--user", "bob")
	if line := n.waitFor("; Ctrl-C to stop"); !strings.Contains(line, "sharing 1 tracks") {
		t.Errorf("node after the daemon ran says %q; want it sharing the track played", line)
	}
	n.stop()
}
