package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestBenchHelp: `chorus bench -h` lists the benchmarks and exits 0; an
// unknown one says which there are.
func TestBenchHelp(t *testing.T) {
	bin := buildChorus(t)
	_, errOut, err := runEnv(t, bin, nil, "", "bench", "--help")
	if err != nil {
		t.Errorf("chorus bench --help: %v; want exit 0", err)
	}
	for _, w := range []string{"start ", "plays ", "tracker ", "chorus bench BENCHMARK -h"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("chorus bench --help lacks %q:\n%s", w, errOut)
		}
	}
	if _, errOut, err := runEnv(t, bin, nil, "", "bench", "nope"); err == nil || !strings.Contains(errOut, "want start, plays or tracker") {
		t.Errorf("chorus bench nope: %v, %q; want a failure naming the benchmarks", err, errOut)
	}
}

// TestSubcommandHelpExitsZero: `chorus CMD -h` prints CMD's flags and
// exits 0, as asked; `chorus` alone still exits 2 and a wrong flag fails,
// naming it.
func TestSubcommandHelpExitsZero(t *testing.T) {
	bin := buildChorus(t)
	for _, cmd := range []string{"play", "tracker", "daemon", "ingest"} {
		_, errOut, err := runEnv(t, bin, nil, "", cmd, "-h")
		if err != nil {
			t.Errorf("chorus %s -h: %v; want exit 0", cmd, err)
		}
		if !strings.Contains(errOut, "usage: chorus "+cmd) {
			t.Errorf("chorus %s -h printed %q; want its usage", cmd, errOut)
		}
	}
	_, _, err := runEnv(t, bin, nil, "")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("chorus alone: %v; want exit status 2", err)
	}
	// A mistake is told once, with where to look, not buried in the usage.
	for _, tt := range []struct {
		args      []string
		cmd, flag string // the command to ask -h of, the flag named once
	}{
		{[]string{"play", "--no-such-flag"}, "play", "no-such-flag"},
		{[]string{"bench", "plays", "--listeners", "x"}, "bench plays", "-listeners"},
	} {
		_, errOut, err := runEnv(t, bin, nil, "", tt.args...)
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("chorus %q: %v; want exit status 2", tt.args, err)
		}
		if strings.Count(errOut, tt.flag) != 1 || strings.Contains(errOut, "usage:") || !strings.Contains(errOut, "chorus "+tt.cmd+" -h") {
			t.Errorf("chorus %q printed %q; want one line naming %q and 'chorus %s -h'", tt.args, errOut, tt.flag, tt.cmd)
		}
	}
}
