package trackerbench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/tracker/store/sqlite"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

// TestRunSmall runs every route at a low rate: every request is sent and
// answered 2xx, latencies are ordered, and the report names each phase.
func TestRunSmall(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := Run(context.Background(), Options{Store: st, StoreName: "sqlite", Rates: []int{200}, Duration: 250 * time.Millisecond,
		Conns: 8, Logins: 2, Argon2: trackertest.CheapArgon2, Tracks: 3})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(rep.Phases) != len(Routes) {
		t.Fatalf("%d phases; want %d", len(rep.Phases), len(Routes))
	}
	for _, p := range rep.Phases {
		if p.Sent != 50 || p.OK != 50 || p.Errors != 0 {
			t.Errorf("%s: sent %d, ok %d, errors %d; want 50, 50, 0", p.Route, p.Sent, p.OK, p.Errors)
		}
		if p.P50 <= 0 || p.P50 > p.P90 || p.P90 > p.P99 || p.P99 > p.Max {
			t.Errorf("%s: latencies p50 %v p90 %v p99 %v max %v not ordered", p.Route, p.P50, p.P90, p.P99, p.Max)
		}
	}
	if rep.Logins != 2 || rep.LoginTime <= 0 {
		t.Errorf("logins %d in %v; want 2 timed", rep.Logins, rep.LoginTime)
	}
	var buf bytes.Buffer
	rep.Print(&buf)
	for _, r := range Routes {
		if !strings.Contains(buf.String(), r) {
			t.Errorf("report lacks %s:\n%s", r, buf.String())
		}
	}
}

func TestOptionsRejected(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, o := range []Options{
		{},
		{Store: st, Rates: []int{0}},
		{Store: st, Routes: []string{"nope"}},
		{Store: st, Duration: time.Hour},
		{Store: st, Conns: -1},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) = nil error; want one", o)
		}
	}
}
