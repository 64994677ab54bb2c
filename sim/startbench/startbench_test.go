package startbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunMeasuresEveryPath runs a small benchmark and checks its shape:
// every path measured the asked number of times, and each sample at least
// the shaped round trip (the shaper never delivers early). It asserts no
// latency targets: those are the benchmark's job, not a unit test's.
func TestRunMeasuresEveryPath(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nodes and an origin")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rtt := 4 * time.Millisecond
	rep, err := Run(ctx, Options{RTT: rtt, Runs: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, p := range Paths {
		if got := len(rep.Samples[p]); got != 3 {
			t.Errorf("%s: %d samples; want 3", p, got)
		}
		for _, d := range rep.Samples[p] {
			if d < rtt {
				t.Errorf("%s: sample %v below the shaped RTT %v", p, d, rtt)
			}
		}
	}
	var buf bytes.Buffer
	rep.Print(&buf)
	if !strings.Contains(buf.String(), string(PeerCold)) || !strings.Contains(buf.String(), "targets") {
		t.Errorf("Print output lacks the table:\n%s", buf.String())
	}
}
