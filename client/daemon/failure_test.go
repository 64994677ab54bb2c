package daemon_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/daemon/daemontest"
)

// TestDaemonSaysWhyAPlayFailed: a play whose only source, the origin, is
// down ends after the give-up time, and the status says so in the
// client's words (the origin is unreachable), not "loading" for ever.
func TestDaemonSaysWhyAPlayFailed(t *testing.T) {
	s, _ := startSwarm(t, daemontest.Options{Peers: -1})
	p := daemon.Paths{Config: t.TempDir(), Cache: t.TempDir()}
	if err := daemon.Login(t.Context(), p, s.Cluster.TrackerURL, "listener", s.Password); err != nil {
		t.Fatal(err)
	}
	d, _ := runDaemon(t, p, s.OriginCA, func(o *daemon.Options) {
		// Over TCP a dead origin refuses at once; over QUIC it is known
		// unreachable only at the handshake timeout (5 s), after a give-up
		// this small, and the client then names no cause.
		o.Config.OriginProto = "h2"
		o.GiveUpAfter = time.Second
	})
	a := api{t: t, url: d.URL(), key: d.APIKey()}
	if err := s.Cluster.StopOrigin(); err != nil {
		t.Fatal(err)
	}
	track := s.Tracks[1]
	a.ok("POST", "/api/play", fmt.Sprintf(`{"id":%q}`, track.ID), nil)
	st := a.waitStatus("the play failed", 30*time.Second, func(st daemon.Status) bool { return st.Error != "" })
	if st.State != "stalled" || !strings.Contains(st.Error, "origin unreachable") || !strings.Contains(st.Error, track.Title) {
		t.Errorf("status after the origin went: state %q, error %q; want stalled, naming the track and the unreachable origin", st.State, st.Error)
	}
}
