package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/daemon/daemontest"
	"github.com/chorus-music/chorus/protocol"
)

// runDaemon starts a daemon over p (with edit, when set, applied to its
// options) and waits until it is connected; stop ends it (and is also run
// at the end of the test).
func runDaemon(t *testing.T, p daemon.Paths, originCA string, edit func(*daemon.Options)) (d *daemon.Daemon, stop func()) {
	t.Helper()
	cfg, _, err := daemon.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OriginCA = originCA
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := daemon.Options{Paths: p, Config: cfg, API: ln, RetryEvery: 200 * time.Millisecond}
	if edit != nil {
		edit(&opts)
	}
	d, err = daemon.New(opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon.Run: %v", err)
		}
	}
	t.Cleanup(stop)
	if err := daemontest.WaitConnected(d, time.Minute); err != nil {
		t.Fatal(err)
	}
	return d, stop
}

// TestDaemonTakesUpAnOldSessionFile: a session.json in the form older
// daemons wrote (account, refresh token and its expiry at the top) is
// converted, not lost: the daemon connects without a login, renews the
// session (the refresh token rotates) and keeps it, 0600, in the
// client's form.
func TestDaemonTakesUpAnOldSessionFile(t *testing.T) {
	s, _ := startSwarm(t, daemontest.Options{Peers: -1})
	p := daemon.Paths{Config: t.TempDir(), Cache: t.TempDir()}
	cfg := daemon.DefaultConfig()
	cfg.Tracker, cfg.User = s.Cluster.TrackerURL, "listener"
	if err := daemon.SaveConfig(p, cfg); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(protocol.LoginRequest{Username: "listener", Password: s.Password})
	resp, err := http.Post(s.Cluster.TrackerURL+protocol.PathLogin, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var sess protocol.Session
	err = json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if err != nil || sess.RefreshToken == "" {
		t.Fatalf("login: %v %+v", err, sess)
	}
	old, _ := json.MarshalIndent(map[string]any{
		"tracker": cfg.Tracker, "account": sess.Account,
		"refresh_token": sess.RefreshToken, "refresh_expires_at": sess.RefreshExpiresAt,
	}, "", "  ")
	file := filepath.Join(p.Config, daemon.SessionFile)
	if err := os.WriteFile(file, old, 0o600); err != nil {
		t.Fatal(err)
	}

	d, _ := runDaemon(t, p, s.OriginCA, nil)
	if got := (api{t: t, url: d.URL(), key: d.APIKey()}).status().Account; got != "listener" {
		t.Errorf("status account = %q; want listener", got)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("session file after the conversion: %v %v; want 0600", st, err)
	}
	data, _ := os.ReadFile(file)
	var now struct {
		Tracker string           `json:"tracker"`
		Session protocol.Session `json:"session"`
	}
	if err := json.Unmarshal(data, &now); err != nil || now.Session.RefreshToken == "" {
		t.Fatalf("session file after the conversion is not in the client's form: %v\n%s", err, data)
	}
	if now.Session.RefreshToken == sess.RefreshToken || now.Session.AccessToken == "" {
		t.Errorf("the converted session was not renewed and kept: %s", data)
	}
}
