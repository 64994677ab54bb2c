package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/tracker/store/postgres/pgtest"
)

// binDir holds the chorus binary that TestMain builds for the tests that
// run it as a user would.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chorus-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	pgtest.Stop() // the PostgreSQL cluster of multitracker_test.go, if started
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildChorus builds the chorus binary on first use.
func buildChorus(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(binDir, "chorus")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDemoRunsAndStopsOnSIGINT starts `chorus demo` as a user would, waits
// for its plays to complete, sends SIGINT and expects exit status 0.
func TestDemoRunsAndStopsOnSIGINT(t *testing.T) {
	bin := buildChorus(t)
	cmd := exec.Command(bin, "demo")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	seen := waitForLine(t, stdout, "ctl --config-dir", 3*time.Minute)
	table := strings.Join(seen, "\n")
	for _, want := range []string{"First Light", "from origin", "ok", "plays complete", "/login?token="} {
		if !strings.Contains(table, want) {
			t.Errorf("demo table lacks %q:\n%s", want, table)
		}
	}
	// Each listener plays each track once, at the playback clock's pace,
	// so next to nothing comes from a cache (a reader racing ahead of
	// the playhead made the play drop and fetch from the cache again what
	// it had: 90% "from caches").
	var origin, peers, caches float64
	for _, l := range seen {
		if strings.HasPrefix(l, "bytes: ") {
			if _, err := fmt.Sscanf(l, "bytes: %f%% from the origin, %f%% from peers, %f%% from caches", &origin, &peers, &caches); err != nil {
				t.Errorf("demo's bytes line %q: %v", l, err)
			}
		}
	}
	if caches > 10 || peers < 30 {
		t.Errorf("demo's bytes: %.1f%% origin, %.1f%% peers, %.1f%% caches; want most from peers and at most 10%% from caches", origin, peers, caches)
	}
	// The demo's daemon answers the ctl line it prints.
	demoCtl(t, bin, seen[len(seen)-1])
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v after SIGINT; want status 0\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("demo did not exit within a minute of SIGINT\nstderr:\n%s", stderr.String())
	}
}

// TestOperatorCommands runs the operator and listener commands against one
// data directory: user add (password on stdin), ingest, keys rotate, a
// tracker that also serves as origin, and play --out.
func TestOperatorCommands(t *testing.T) {
	bin := buildChorus(t)
	data := t.TempDir()
	mustRun(t, bin, data, "s3cret-passw0rd\n", "user", "add", "bob")
	src := filepath.Join("..", "..", "catalog", "testdata")
	out := mustRun(t, bin, data, "", "ingest", "--quiet", src)
	if n := strings.Count(out, "added"); n < 4 {
		t.Fatalf("ingest added %d tracks; want at least 4:\n%s", n, out)
	}
	again := mustRun(t, bin, data, "", "ingest", "--quiet", filepath.Join(src, "flac.flac"))
	if !strings.Contains(again, "already in the catalog") {
		t.Fatalf("second ingest of flac.flac said %q; want already in the catalog", again)
	}
	flacID := strings.Fields(again)[0]
	mustRun(t, bin, data, "", "keys", "rotate")
	if keys := mustRun(t, bin, data, "", "keys", "list"); strings.Count(keys, "retired") != 1 || strings.Count(keys, "current") != 1 {
		t.Fatalf("keys list after one rotation:\n%s", keys)
	}

	// A bad flag or a missing argument is an error, not a panic.
	if err := exec.Command(bin, "ingest", "--no-such-flag").Run(); err == nil {
		t.Error("chorus ingest --no-such-flag succeeded; want an error")
	}

	tr, api := startTrackerProc(t, bin, dataEnv(data), "--listen", "127.0.0.1:0", "--serve-origin", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--dev")

	outFile := filepath.Join(t.TempDir(), "out.flac")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	play := exec.CommandContext(ctx, bin, "play", "--tracker", api, "--user", "bob",
		"--data", t.TempDir(), "--origin-ca", filepath.Join(data, "tls", "origin-ca.pem"), "--out", outFile, flacID)
	play.Stdin = strings.NewReader("s3cret-passw0rd\n")
	var pout, perr bytes.Buffer
	play.Stdout, play.Stderr = &pout, &perr
	if err := play.Run(); err != nil {
		t.Fatalf("chorus play: %v\n%s", err, perr.String())
	}
	got, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(src, "flac.flac"))
	if !bytes.Equal(got, want) {
		t.Fatalf("play --out wrote %d bytes differing from the %d-byte source", len(got), len(want))
	}
	var stats client.PlayStats
	if err := json.Unmarshal(pout.Bytes(), &stats); err != nil {
		t.Fatalf("play stats are not JSON: %v\n%s", err, pout.String())
	}
	if stats.BytesBySource[client.KindOrigin] != int64(len(want)) || stats.StartLatencyMS <= 0 {
		t.Fatalf("play stats = %+v; want all %d bytes from the origin and a start latency", stats, len(want))
	}

	// The listener's daemon: a play that joins the swarm caches the track,
	// and `chorus node` over the same data directory shares it until
	// SIGINT.
	listenerDir := t.TempDir()
	swarmOut := filepath.Join(t.TempDir(), "swarm.flac")
	sp := exec.CommandContext(ctx, bin, "play", "--swarm", "--speed", "4", "--tracker", api, "--user", "bob",
		"--data", listenerDir, "--origin-ca", filepath.Join(data, "tls", "origin-ca.pem"), "--out", swarmOut, flacID)
	sp.Stdin = strings.NewReader("s3cret-passw0rd\n")
	if out, err := sp.CombinedOutput(); err != nil {
		t.Fatalf("chorus play --swarm: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(swarmOut); !bytes.Equal(got, want) {
		t.Fatal("play --swarm output differs from the source")
	}
	nd := startProc(t, "node", "s3cret-passw0rd\n", bin, "node", "--tracker", api, "--user", "bob", "--data", listenerDir)
	if line := nd.waitFor("; Ctrl-C to stop"); !strings.Contains(line, "sharing 1 tracks") {
		t.Errorf("node says %q; want it sharing the one track it played", line)
	}
	nd.stop() // SIGINT: a clean exit, status 0

	// A wrong password fails cleanly and leaves no output file.
	bad := exec.Command(bin, "play", "--tracker", api, "--user", "bob",
		"--data", t.TempDir(), "--origin-ca", filepath.Join(data, "tls", "origin-ca.pem"), "--out", outFile+".2", flacID)
	bad.Stdin = strings.NewReader("wrong\n")
	if err := bad.Run(); err == nil {
		t.Fatal("play with a wrong password succeeded")
	}
	if _, err := os.Stat(outFile + ".2"); !os.IsNotExist(err) {
		t.Fatalf("failed play left an output file (stat err %v)", err)
	}

	tr.stop() // SIGINT: a clean exit, status 0
}
