package main

import (
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
