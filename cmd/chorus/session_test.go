package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/internal/metricstest"
	"github.com/chorus-music/chorus/protocol"
)

// TestPlayKeepsSession: the first play logs in with the password, through
// its start request; the session is kept in the data directory (0600), so
// a second play, a new process with nothing on stdin, takes it up instead
// of asking again. A saved session of another account is not used.
func TestPlayKeepsSession(t *testing.T) {
	src := testdata("flac.flac")
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lt := startTracker(t, src)
	track := lt.ids["flac.flac"]
	client := t.TempDir()

	out1 := filepath.Join(t.TempDir(), "one.flac")
	mustRun(t, lt.bin, lt.data, testPassword+"\n", lt.playArgs(client, out1, track)...)
	fi, err := os.Stat(filepath.Join(client, "session.json"))
	if err != nil {
		t.Fatalf("no session kept after a play: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("session.json mode %v; want 0600", fi.Mode().Perm())
	}
	// The network list the start brought is kept too: the next play
	// connects to its origins at once.
	if data, err := os.ReadFile(filepath.Join(client, "network.json")); err != nil || !strings.Contains(string(data), "origins") {
		t.Errorf("network.json after a play: %v, %q; want the network list", err, data)
	}

	out2 := filepath.Join(t.TempDir(), "two.flac")
	_, stderr, err := chorusRun(t, lt.bin, lt.data, "", lt.playArgs(client, out2, track)...)
	if err != nil {
		t.Fatalf("second play with no password on stdin: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "password") {
		t.Errorf("second play asked for a password:\n%s", stderr)
	}
	if got, _ := os.ReadFile(out2); !bytes.Equal(got, want) {
		t.Errorf("second play wrote %d bytes; want the source's %d", len(got), len(want))
	}
	// Neither play asked for a login or the network list on its own: the
	// first logged in through its start, the second's start used the
	// saved session.
	for route, n := range map[string]float64{protocol.PathLogin: 0, protocol.PathNetwork: 0, protocol.PathStart: 2} {
		if got := requestsTo(t, lt.api, route); got != n {
			t.Errorf("tracker requests to %s after two plays = %v; want %v", route, got, n)
		}
	}

	// Another account: the saved session is not bob's, so a password is
	// needed (none on stdin: a clear failure).
	args := lt.playArgs(client, filepath.Join(t.TempDir(), "three.flac"), track)
	for i, a := range args {
		if a == "bob" {
			args[i] = "carol"
		}
	}
	if _, stderr, err := chorusRun(t, lt.bin, lt.data, "", args...); err == nil || !strings.Contains(stderr, "password") {
		t.Errorf("play as another account with no password: err %v, stderr %q; want a failure about the password", err, stderr)
	}
}

// requestsTo reads how many requests the tracker at api served on route
// (a pattern of protocol), from its metrics.
func requestsTo(t *testing.T, api, route string) float64 {
	t.Helper()
	return metricstest.Sum(t, http.DefaultClient, api+protocol.PathMetrics, "chorus_tracker_requests_total", map[string]string{"route": route})
}

// TestPlayLogsInWhenSavedSessionRefused: a saved session the tracker no
// longer honours (its tokens unknown there: revoked, or another
// database) makes the play read the password and log in through its
// start, then play, saving the new session.
func TestPlayLogsInWhenSavedSessionRefused(t *testing.T) {
	src := testdata("flac.flac")
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lt := startTracker(t, src)
	track := lt.ids["flac.flac"]
	client := t.TempDir()
	mustRun(t, lt.bin, lt.data, testPassword+"\n", lt.playArgs(client, filepath.Join(t.TempDir(), "one.flac"), track)...)

	// Replace the saved tokens with well-formed ones the tracker never
	// issued, the access token expired.
	path := filepath.Join(client, "session.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		Tracker string         `json:"tracker"`
		Session map[string]any `json:"session"`
	}
	if err := json.Unmarshal(data, &saved); err != nil {
		t.Fatal(err)
	}
	sess := saved.Session
	sess["access_token"] = strings.Repeat("A", 43)
	sess["refresh_token"] = strings.Repeat("B", 43)
	sess["access_expires_at"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
	if data, err = json.Marshal(saved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "two.flac")
	_, stderr, err := chorusRun(t, lt.bin, lt.data, testPassword+"\n", lt.playArgs(client, out, track)...)
	if err != nil {
		t.Fatalf("play with a refused saved session and the password on stdin: %v\n%s", err, stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Errorf("play wrote %d bytes; want the source's %d", len(got), len(want))
	}
	// The new session (from the login) replaced the refused one.
	if data, err := os.ReadFile(path); err != nil || strings.Contains(string(data), strings.Repeat("B", 43)) {
		t.Errorf("session.json after the login: %v, %s; want a new session", err, data)
	}
}
