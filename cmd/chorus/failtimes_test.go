package main

import (
	"bytes"
	"flag"
	"fmt"
	"testing"
	"time"
)

var failureTimes = flag.Bool("failure-times", false, "measure how long each play failure takes at the default settings (TestFailureTimes)")

// TestFailureTimes measures, at the default settings (no --give-up), how
// long `chorus play` takes to exit with each failure of issue 8, from the
// start of the process: a measurement for BENCHMARKS.md, not a test of a
// bound. Run it with
//
//	go test ./cmd/chorus -run TestFailureTimes -failure-times -v
func TestFailureTimes(t *testing.T) {
	if !*failureTimes {
		t.Skip("a measurement: run with -failure-times")
	}
	type row struct {
		failure string
		took    time.Duration
		msg     string
	}
	var rows []row
	measure := func(failure string, p *proc, want string) {
		t.Helper()
		start := time.Now()
		expectFailure(t, p, want)
		took := time.Since(start)
		out := p.output()
		msg := out[bytes.LastIndex([]byte(out), []byte("chorus: ")):]
		rows = append(rows, row{failure, took, msg})
	}

	s := newSwarmSite(t, "alice", "mallory", "carol")
	p, _ := s.startPlay("untrusted", "alice", t.TempDir(), false)
	measure("untrusted certificate", p, "--origin-ca")

	dirA := t.TempDir()
	if _, got := s.play("A play", "alice", dirA); !bytes.Equal(got, s.want) {
		t.Fatal("A's play output differs from the source")
	}
	startCorruptPeer(t, s, dirA)
	s.origin.stop()
	p, _ = s.startPlay("origin down", "alice", t.TempDir(), true)
	measure("origin down", p, "origin unreachable")
	p, _ = s.startPlay("only source corrupt", "carol", t.TempDir(), true, "--swarm")
	measure("only source corrupt (origin down)", p, "corrupt")
	s.tracker.stop()
	p, _ = s.startPlay("tracker down", "alice", t.TempDir(), true)
	measure("tracker down", p, "tracker unreachable")

	for _, r := range rows {
		fmt.Printf("%-36s %6.1f s  %s\n", r.failure, r.took.Seconds(), r.msg)
	}
}
