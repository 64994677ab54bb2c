package startbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunMeasuresEveryPath runs a small benchmark and checks its shape:
// every path measured the asked number of times, the marks in order, and
// no sample below its floor (the shaper never delivers early). It asserts
// no latency targets: those are the benchmark's job, not a unit test's.
func TestRunMeasuresEveryPath(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a tracker, an origin and nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rtt := 4 * time.Millisecond
	rep, err := Run(ctx, Options{RTT: rtt, Runs: 2, Seconds: 8, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, p := range Paths[2:] {
		if got := len(rep.Samples[p]); got != 2 {
			t.Errorf("%s: %d samples; want 2", p, got)
		}
		for _, s := range rep.Samples[p] {
			fresh := p == FreshSaved || p == FreshLogin || p == URLOnlySaved || p == URLOnlyLogin
			if !fresh && !(s[MarkStart] > 0 && s[MarkStart] <= s[MarkEarly] && s[MarkEarly] <= s[MarkWhole]) {
				t.Errorf("%s: marks %v not in order", p, s)
			}
			floor := rep.Median(FloorWarm, MarkStart)
			if s[MarkStart] < floor {
				t.Errorf("%s: first %d B in %v, below the warm floor %v", p, StartBytes, s[MarkStart], floor)
			}
		}
	}
	for _, p := range []Path{FreshLogin, URLOnlyLogin} {
		if h := rep.LoginHash[p]; len(h) != 2 || h[0] <= 0 || h[1] <= 0 {
			t.Errorf("%s: argon2id times %v; want one > 0 per run", p, h)
		}
		if rep.NetMedian(p) <= 0 {
			t.Errorf("%s: first %d B less the argon2id = %v; want > 0", p, StartBytes, rep.NetMedian(p))
		}
	}
	if rep.Bytes[MarkWhole] != 8*20000+44 {
		t.Errorf("track of %d bytes; want %d", rep.Bytes[MarkWhole], 8*20000+44)
	}
	var buf bytes.Buffer
	rep.Print(&buf)
	if !strings.Contains(buf.String(), string(PeerCold)) || !strings.Contains(buf.String(), "targets") {
		t.Errorf("Print output lacks the table:\n%s", buf.String())
	}
}
