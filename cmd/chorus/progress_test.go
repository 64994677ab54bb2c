package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/internal/clock"
)

// TestProgressOffTerminal: into a file or pipe, ingest progress is a line
// every 5 s at most, never a redrawn bar.
func TestProgressOffTerminal(t *testing.T) {
	var out bytes.Buffer
	clk := clock.NewFake(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	env := &cmdEnv{stderr: &out}
	p := newProgress(env, 100<<20, false, clk)
	// 60 s of ingest, a chunk every 10 ms.
	for i := range 6000 {
		clk.Advance(10 * time.Millisecond)
		p.set(int64(i) * (100 << 20) / 6000)
	}
	p.finish()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 12 {
		t.Errorf("60 s of progress wrote %d lines; want 12 (one per 5 s):\n%s", len(lines), out.String())
	}
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Errorf("progress off a terminal holds carriage returns or escapes: %q", out.String()[:80])
	}
	if want := "ingest: 8.3 MiB of 100.0 MiB (8%)"; lines[0] != want {
		t.Errorf("first progress line = %q; want %q", lines[0], want)
	}
	var quiet bytes.Buffer
	q := newProgress(&cmdEnv{stderr: &quiet}, 1, true, clk)
	clk.Advance(time.Hour)
	q.set(1)
	if quiet.Len() != 0 {
		t.Errorf("--quiet progress wrote %q", quiet.String())
	}
}
