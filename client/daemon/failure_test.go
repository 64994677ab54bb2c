package daemon_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/daemon/daemontest"
)

// TestPlayThatCannotProgressSaysWhy: with no peer and the origin stopped,
// a play that nobody reads (chorus ctl play, no player yet) gives up
// after the client's give-up time, and the status says why (the origin
// unreachable) instead of "loading" for ever.
func TestPlayThatCannotProgressSaysWhy(t *testing.T) {
	s, a := startSwarm(t, daemontest.Options{Peers: -1})
	s.Cluster.StopOrigin()
	var st daemon.Status
	a.ok("POST", "/api/play", fmt.Sprintf(`{"id":%q}`, s.Tracks[0].ID), &st)
	if st.Error != "" {
		t.Fatalf("status right after play has error %q; want none yet", st.Error)
	}
	// The give-up time is the client's default, 15 s; allow for a loaded
	// machine, never reached when the status says why.
	st = a.waitStatus("the play's failure in the status", time.Minute, func(st daemon.Status) bool {
		return st.Error != ""
	})
	if !strings.Contains(st.Error, "origin") || !strings.Contains(st.Error, s.Tracks[0].Title) {
		t.Errorf("status error = %q; want the track and the origin that failed", st.Error)
	}
	if st.State != "stalled" {
		t.Errorf("state = %q with error %q; want stalled", st.State, st.Error)
	}
}
