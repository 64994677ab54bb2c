package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/sim/fault"
)

// faultGiveUp is the give-up time of the fault tests' plays: small, so
// that each failure ends in seconds. BENCHMARKS.md has the times at the
// default settings.
const faultGiveUp = "2s"

// playFile starts `chorus play` of the site's track into a new file, with
// extra flags; withCA adds --origin-ca.
func (s *swarmSite) startPlay(name, user, dir string, withCA bool, extra ...string) (*proc, string) {
	s.t.Helper()
	out := filepath.Join(s.t.TempDir(), "out.flac")
	args := []string{"play", "--tracker", s.trackerURL, "--user", user, "--data", dir, "--speed", "8", "--out", out}
	if withCA {
		args = append(args, "--origin-ca", s.originCA)
	}
	args = append(append(args, extra...), s.track)
	return startProc(s.t, name, sitePassword+"\n", s.bin, args...), out
}

// expectFailure checks that p exited non-zero with a message containing
// each of want, and printed its statistics anyway.
func expectFailure(t *testing.T, p *proc, want ...string) {
	t.Helper()
	if code := p.wait(); code == 0 {
		t.Fatalf("%s exited 0; want a failure", p.name)
	}
	out := p.output()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s's output does not say %q", p.name, w)
		}
	}
	if !strings.Contains(out, `"bytes_by_source"`) && !strings.Contains(out, "tracker unreachable") {
		t.Errorf("%s printed no statistics", p.name)
	}
}

// expectSuccess checks that p exited 0 and wrote the track to out.
func (s *swarmSite) expectSuccess(p *proc, out string) client.PlayStats {
	s.t.Helper()
	if code := p.wait(); code != 0 {
		s.t.Fatalf("%s exited %d; want 0", p.name, code)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, s.want) {
		s.t.Fatalf("%s wrote %d bytes that differ from the %d-byte source", p.name, len(got), len(s.want))
	}
	return p.stats()
}

// TestPlayUntrustedCertificate: without --origin-ca a dev origin's
// certificate is not trusted; the listener is told so at once, naming the
// flag, while the play still waits for a peer; the play ends after the
// give-up time saying so again, and with the flag it plays.
func TestPlayUntrustedCertificate(t *testing.T) {
	t.Parallel()
	s := newSwarmSite(t, "alice")
	p, _ := s.startPlay("play without --origin-ca, waiting", "alice", t.TempDir(), false, "--give-up", "10m")
	line := p.waitFor("origin certificate not trusted: plays go on from peers alone")
	select {
	case <-p.done:
		t.Errorf("the play had ended when it told of the certificate; want it told while the play waits")
	default:
	}
	if !strings.Contains(line, "--origin-ca") {
		t.Errorf("the warning %q does not say what to do (--origin-ca)", line)
	}
	p.kill()
	p, _ = s.startPlay("play without --origin-ca", "alice", t.TempDir(), false, "--give-up", faultGiveUp, "--log-level", "debug")
	expectFailure(t, p, "certificate not trusted", "--origin-ca")
	if asked, told := strings.Count(p.output(), "chunk request failed"), strings.Count(p.output(), "plays go on from peers alone"); asked < 2 || told != 1 {
		t.Errorf("%d requests failed, the listener was told %d times; want several requests, told once", asked, told)
	}
	p, out := s.startPlay("play with --origin-ca", "alice", t.TempDir(), true, "--give-up", faultGiveUp)
	s.expectSuccess(p, out)
}

// TestPlayOriginDownAndBack: with the only origin stopped a play ends after
// the give-up time naming the origin; a play started while it is down
// resumes and finishes as soon as it is back within the give-up time.
func TestPlayOriginDownAndBack(t *testing.T) {
	t.Parallel()
	s := newSwarmSite(t, "alice")
	s.origin.stop()
	// An HTTP/3 dial to a stopped origin fails after the QUIC handshake
	// timeout (5 s): give the play longer than that to learn why.
	p, _ := s.startPlay("play, origin down", "alice", t.TempDir(), true, "--give-up", "7s")
	p.waitFor("origin unreachable: plays go on from peers alone until it answers")
	expectFailure(t, p, "origin unreachable", s.originAt)

	p, out := s.startPlay("play, origin back", "alice", t.TempDir(), true, "--give-up", "60s", "--log-level", "debug")
	p.waitFor("request failed") // the play is asking the stopped origin
	s.startOrigin()
	if st := s.expectSuccess(p, out); st.BytesBySource[client.KindOrigin] != int64(len(s.want)) {
		t.Errorf("origin back: %v bytes by source; want all %d from the origin", st.BytesBySource, len(s.want))
	}
}

// TestPlayTrackerDown: a stopped tracker is named at once; started again,
// the same command plays.
func TestPlayTrackerDown(t *testing.T) {
	t.Parallel()
	s := newSwarmSite(t, "alice")
	s.tracker.stop()
	p, _ := s.startPlay("play, tracker down", "alice", t.TempDir(), true, "--give-up", faultGiveUp)
	expectFailure(t, p, "tracker unreachable", s.trackerURL)
	s.startTracker()
	p, out := s.startPlay("play, tracker back", "alice", t.TempDir(), true, "--give-up", faultGiveUp)
	s.expectSuccess(p, out)
}

// TestPlayOnlySourceCorrupt: the only peer holding the track serves corrupt
// chunks (a real node in this process, its served chunks corrupted by
// sim/fault) and the origin is stopped: the play ends after the give-up
// time saying every source sent corrupt data, and the peer's ID is logged
// at WARN. With the origin back, the play falls back to it and finishes.
func TestPlayOnlySourceCorrupt(t *testing.T) {
	t.Parallel()
	s := newSwarmSite(t, "alice", "mallory", "carol")
	dirA := t.TempDir()
	if _, got := s.play("A play", "alice", dirA); !bytes.Equal(got, s.want) {
		t.Fatal("A's play output differs from the source")
	}
	m := startCorruptPeer(t, s, dirA)
	s.origin.stop()

	p, _ := s.startPlay("play, only source corrupt", "carol", t.TempDir(), true, "--swarm", "--give-up", "7s", "--log-level", "debug")
	expectFailure(t, p, "banned: peer "+m.Node.ID().String())
	if !slices.ContainsFunc(strings.Split(p.output(), "\n"), func(l string) bool {
		return strings.Contains(l, "level=WARN") && strings.Contains(l, "corrupt chunk") && strings.Contains(l, m.Node.ID().String())
	}) {
		t.Error("the corrupt chunk was not logged at WARN with the peer's ID")
	}

	s.startOrigin()
	p, out := s.startPlay("play, origin back", "carol", t.TempDir(), true, "--swarm", "--give-up", faultGiveUp)
	st := s.expectSuccess(p, out)
	if st.BytesBySource[client.KindOrigin] == 0 {
		t.Errorf("origin back: %v bytes by source; want the origin to stand in for the corrupt peer", st.BytesBySource)
	}
}

// copyDir copies the regular files under src to dst, except those named in
// skip.
func copyDir(t *testing.T, src, dst string, skip ...string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		for _, s := range skip {
			if d.Name() == s {
				return nil
			}
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPlayInterrupted: Ctrl-C during a play that is waiting for a stopped
// origin ends it at once, non-zero, saying so, with its statistics.
func TestPlayInterrupted(t *testing.T) {
	t.Parallel()
	s := newSwarmSite(t, "alice")
	s.origin.stop()
	p, _ := s.startPlay("play, interrupted", "alice", t.TempDir(), true, "--give-up", "60s", "--log-level", "debug")
	p.waitFor("request failed")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	expectFailure(t, p, "play interrupted")
}

// startCorruptPeer starts, in this process, a real node for mallory that
// holds what the listener in dirA holds (a copy of its cache and held
// tracks, with an identity of its own) and corrupts every chunk it serves.
func startCorruptPeer(t *testing.T, s *swarmSite, dirA string) *client.Membership {
	t.Helper()
	dirM := t.TempDir()
	copyDir(t, dirA, dirM, "identity.key", "listen-addrs")
	ctx := context.Background()
	pins, err := client.OpenPins(filepath.Join(dirM, "tracker-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := client.NewTracker(client.TrackerOptions{URL: s.trackerURL, Pins: pins})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Login(ctx, "mallory", sitePassword); err != nil {
		t.Fatalf("mallory login: %v", err)
	}
	m, err := client.JoinSwarm(ctx, tr, client.SwarmOptions{Dir: dirM, Announce: true, ServeStream: fault.Corrupt})
	if err != nil {
		t.Fatalf("mallory's node: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	held := m.Node.Held()
	if len(held) != 1 {
		t.Fatalf("mallory's node holds %v; want the one track A played", held)
	}
	// Announce it now, once the routing table holds a peer, so that the
	// record is on the DHT server before any play looks for it.
	for {
		grew := m.Node.RoutingTableChanged()
		if m.Node.RoutingTableSize() > 0 {
			break
		}
		select {
		case <-grew:
		case <-time.After(procWait):
			t.Fatal("mallory's routing table stayed empty")
		}
	}
	if err := m.Node.Provide(ctx, held[0]); err != nil {
		t.Fatalf("mallory's announcement: %v", err)
	}
	return m
}
