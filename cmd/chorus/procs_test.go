package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// swarmSite is a tracker with its DHT server and a separate origin, on
// loopback, with accounts and one ingested track, all through the binary.
type swarmSite struct {
	t           *testing.T
	bin         string
	data        string // tracker data directory
	trackerURL  string
	originCA    string
	track       string // the ingested track's ID
	want        []byte // its bytes
	origin      *proc
	tracker     *proc
	trackerArgs []string
	originAt    string
}

const sitePassword = "pw-listener-0123"

// newSwarmSite builds the site: users, one ingested track, an origin, a
// tracker listing it and running a DHT server.
func newSwarmSite(t *testing.T, users ...string) *swarmSite {
	t.Helper()
	bin := buildChorus(t)
	s := &swarmSite{t: t, bin: bin, data: t.TempDir()}
	run := func(stdin string, args ...string) string {
		t.Helper()
		return mustRun(t, bin, s.data, stdin, args...)
	}
	for _, u := range users {
		run(sitePassword+"\n", "user", "add", u)
	}
	src := filepath.Join("..", "..", "catalog", "testdata", "flac.flac")
	s.track = strings.Fields(run("", "ingest", "--quiet", src))[0]
	var err error
	if s.want, err = os.ReadFile(src); err != nil {
		t.Fatal(err)
	}
	s.originAt = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.startOrigin()
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.trackerURL = "http://" + api
	s.trackerArgs = []string{"--data", s.data, "--listen", api,
		"--origin", "https://" + s.originAt, "--dht-listen", fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", freePort(t))}
	s.startTracker()
	s.originCA = filepath.Join(s.data, "tls", "origin-ca.pem")
	return s
}

// startTracker starts the tracker (again) with the same flags.
func (s *swarmSite) startTracker() {
	s.t.Helper()
	s.tracker, _ = startTrackerProc(s.t, s.bin, nil, s.trackerArgs...)
	s.tracker.waitFor("dht server serving")
}

func (s *swarmSite) startOrigin() {
	s.t.Helper()
	s.origin = startProc(s.t, "origin", "", s.bin, "origin", "--data", s.data, "--listen", s.originAt, "--dev")
	s.origin.waitFor("origin serving")
}

// listener runs a listener command (play or node) for user with its own
// data directory dir, as the README shows it.
func (s *swarmSite) listener(name, user, dir string, args ...string) *proc {
	s.t.Helper()
	common := []string{"--tracker", s.trackerURL, "--user", user, "--data", dir}
	if args[0] == "play" {
		common = append(common, "--origin-ca", s.originCA)
	}
	return startProc(s.t, name, sitePassword+"\n", s.bin, append(append(args[:1:1], common...), args[1:]...)...)
}

// play plays the site's track with --swarm into a new file and returns
// the process (finished) and the output's bytes.
func (s *swarmSite) play(name, user, dir string, extra ...string) (*proc, []byte) {
	s.t.Helper()
	out := filepath.Join(s.t.TempDir(), "out.flac")
	args := append([]string{"play", "--swarm", "--speed", "8", "--out", out}, extra...)
	p := s.listener(name, user, dir, append(args, s.track)...)
	code := p.wait()
	got, _ := os.ReadFile(out)
	if code != 0 {
		s.t.Fatalf("%s exited %d; want 0", name, code)
	}
	return p, got
}
