package playbench

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client"
)

// TestRunPlaysInAWarmSwarm runs a tiny swarm and checks the report's shape:
// every play recorded, ended, with bytes that add up to the track. It
// asserts no latency: that is the benchmark's job.
func TestRunPlaysInAWarmSwarm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a swarm")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{RTT: 2 * time.Millisecond, Listeners: 2, Tracks: 2, Plays: 2, Seconds: 2, Speed: 8, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rep.Plays) != 4 {
		t.Fatalf("%d plays; want 4", len(rep.Plays))
	}
	for _, p := range rep.Plays {
		var sum int64
		for _, n := range p.Stats.BytesBySource {
			sum += n
		}
		if !p.Stats.Ended || sum == 0 || p.Stats.StartLatencyMS <= 0 {
			t.Errorf("play %+v: want ended, with bytes and a start latency", p)
		}
	}
	if b := rep.Bytes(); b[client.KindOrigin]+b[client.KindPeer]+b[client.KindCache] == 0 {
		t.Error("no bytes counted")
	}
	var buf bytes.Buffer
	rep.Print(&buf)
	for _, want := range []string{"p99", "plays with a stall", "from the origin"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestWarmLeavesOutEachListenersFirstPlay: the warm report holds every
// play but each listener's earliest, whatever the order they were recorded
// in.
func TestWarmLeavesOutEachListenersFirstPlay(t *testing.T) {
	r := &Report{Plays: []Play{
		{Listener: "a", Track: "t2", At: 9 * time.Second},
		{Listener: "b", Track: "t1", At: 1 * time.Second},
		{Listener: "a", Track: "t1", At: 2 * time.Second},
		{Listener: "b", Track: "t3", At: 8 * time.Second},
		{Listener: "c", Track: "t1", At: 3 * time.Second},
	}}
	w := r.Warm()
	var got []string
	for _, p := range w.Plays {
		got = append(got, p.Listener+"/"+p.Track)
	}
	if want := []string{"a/t2", "b/t3"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("warm plays %v; want %v", got, want)
	}
}

// TestRunRefusesBadOptions: each bad option is named, before any node
// starts.
func TestRunRefusesBadOptions(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Listeners: -1}, "Listeners is negative"},
		{Options{RTT: -time.Millisecond, Speed: -1}, "RTT is negative, Speed is negative"},
		{Options{Seconds: 1e6}, "Seconds 1e+06 is above"},
	} {
		if err := c.o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v; want an error naming %q", c.o, err, c.want)
		}
		_, err := Run(context.Background(), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%+v) = %v; want an error naming %q", c.o, err, c.want)
		}
	}
}

// TestPlanSpreadsFirstStarts: each listener's session begins at its own
// time within the first track's length (of the playback clock), the same
// for a seed; Together starts them all at once; the play order is the same
// either way.
func TestPlanSpreadsFirstStarts(t *testing.T) {
	ids := []string{"t1", "t2", "t3", "t4"}
	o := Options{Plays: 5, Seconds: 8, Speed: 2, Seed: 7}
	starts := map[time.Duration]bool{}
	for k := range 50 {
		order, first := plan(o, ids, k)
		if first < 0 || first >= 4*time.Second {
			t.Errorf("listener %d starts at %v; want within [0, 4s) (8 s of audio at 2x)", k, first)
		}
		starts[first] = true
		again, first2 := plan(o, ids, k)
		if first2 != first || !slices.Equal(again, order) {
			t.Errorf("listener %d: plan differs for the same seed", k)
		}
		together := o
		together.Together = true
		torder, tfirst := plan(together, ids, k)
		if tfirst != 0 || !slices.Equal(torder, order) {
			t.Errorf("listener %d with Together: first start %v, order %v; want 0 and %v", k, tfirst, torder, order)
		}
	}
	if len(starts) < 45 {
		t.Errorf("50 listeners share %d first start times; want them spread", len(starts))
	}
}

// TestGaveUpCountsAsStalledAndNeverStarted: a play that gave up is a stall,
// and one that gave up before it started is slower than every play that
// started, so it cannot pull the percentiles down.
func TestGaveUpCountsAsStalledAndNeverStarted(t *testing.T) {
	r := &Report{Plays: []Play{
		{Listener: "a", Stats: client.PlayStats{StartLatencyMS: 40}},
		{Listener: "b", Stats: client.PlayStats{StartLatencyMS: 50}},
		{Listener: "c", GaveUp: "no chunk arrived for 15s"},
		{Listener: "d", Stats: client.PlayStats{StartLatencyMS: 60}, GaveUp: "no chunk arrived for 15s"},
	}}
	if got := r.StallRate(); got != 0.5 {
		t.Errorf("StallRate() = %v; want 0.5 (both plays that gave up)", got)
	}
	if got := r.GaveUp(); got != 2 {
		t.Errorf("GaveUp() = %d; want 2", got)
	}
	if got := r.StartQuantile(1); got != Never {
		t.Errorf("max start = %v; want Never", got)
	}
	if got := r.StartQuantile(0.75); got != 60*time.Millisecond {
		t.Errorf("p75 start = %v; want 60ms (the play that started, then gave up)", got)
	}
	var buf bytes.Buffer
	r.Print(&buf)
	for _, want := range []string{"max never (gave up)", "plays that gave up (counted as stalled): 2"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
}
