package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from this run")

// playFixture is a tracker serving as origin, with user bob and one
// ingested track, each run as a user would.
type playFixture struct {
	bin, data, trackID, api string
}

func startPlayFixture(t *testing.T) playFixture {
	t.Helper()
	bin := buildChorus(t)
	data := t.TempDir()
	mustRun(t, bin, data, "s3cret-passw0rd\n", "user", "add", "bob")
	out := mustRun(t, bin, data, "", "ingest", "--quiet", filepath.Join("..", "..", "catalog", "testdata", "flac.flac"))
	trackID := strings.Fields(out)[0]

	_, api := startTrackerProc(t, bin, dataEnv(data), "--listen", "127.0.0.1:0", "--serve-origin", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--dev")
	return playFixture{bin: bin, data: data, trackID: trackID, api: api}
}

// TestPlayStatsGolden holds the JSON that `chorus play` prints to a fixed
// shape: the same fields, and the same values for those a play from one
// origin fixes (chunk count, bytes by source, origin requests by reason,
// cache flags, title). Values that depend on timing (start latency, stalls)
// or on the random track key (the track ID) are compared by type only.
// Regenerate with go test -run TestPlayStatsGolden ./cmd/chorus -update.
func TestPlayStatsGolden(t *testing.T) {
	f := startPlayFixture(t)
	bin, data, trackID, api := f.bin, f.data, f.trackID, f.api
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	play := exec.CommandContext(ctx, bin, "play", "--speed", "16", "--tracker", api, "--user", "bob",
		"--data", t.TempDir(), "--origin-ca", filepath.Join(data, "tls", "origin-ca.pem"), "--out", filepath.Join(t.TempDir(), "out.flac"), trackID)
	play.Stdin = strings.NewReader("s3cret-passw0rd\n")
	var pout, perr bytes.Buffer
	play.Stdout, play.Stderr = &pout, &perr
	if err := play.Run(); err != nil {
		t.Fatalf("chorus play: %v\n%s", err, perr.String())
	}
	var stats map[string]any
	if err := json.Unmarshal(pout.Bytes(), &stats); err != nil {
		t.Fatalf("play stats are not JSON: %v\n%s", err, pout.String())
	}
	// Timing and the random key decide these; only their type is held.
	for _, k := range []string{"track_id", "start_latency_ms", "stalls", "stall_ms", "ended"} {
		if v, ok := stats[k]; ok {
			stats[k] = fmt.Sprintf("<%T>", v)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(stats); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	golden := filepath.Join("testdata", "play_stats.golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("chorus play printed (normalised):\n%s\nwant (%s):\n%s", got, golden, want)
	}
}
