package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client/daemon"
)

// userEnv is a listener's environment: a home of its own, with the
// config and cache directories where the OS puts them.
func userEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHORUS_") && !strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, append([]string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_CACHE_HOME=" + filepath.Join(home, ".cache")}, extra...)...)
}

// statusEvents follows a daemon's event stream until cond holds.
func statusEvents(t testing.TB, base, key, what string, timeout time.Duration, cond func(daemon.Status) bool) daemon.Status {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/events", nil)
	req.Header.Set("X-API-Key", key)
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	var last daemon.Status
	chunk := make([]byte, 32<<10)
	for {
		for {
			i := bytes.Index(buf.Bytes(), []byte("\n\n"))
			if i < 0 {
				break
			}
			block := string(buf.Next(i + 2))
			if data, ok := strings.CutPrefix(strings.TrimSpace(block), "event: status\ndata: "); ok {
				if err := json.Unmarshal([]byte(data), &last); err != nil {
					t.Fatalf("status event is not JSON: %v\n%s", err, data)
				}
				if cond(last) {
					return last
				}
			}
		}
		n, err := resp.Body.Read(chunk)
		buf.Write(chunk[:n])
		if err != nil && n == 0 {
			t.Fatalf("no status where %s within %v (%v); last: %+v", what, timeout, err, last)
		}
	}
}

func getStatus(t testing.TB, base, key string) daemon.Status {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/status", nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st daemon.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDaemonCtlAndCrash runs a listener's day as separate processes: a
// tracker and an origin; chorus login (password on stdin); chorus daemon;
// chorus ctl search, play, queue, status, url; then kill -9 of the daemon
// mid-play, the origin gone too, and a restart that resumes the session
// without a password and the play at its saved position from the cache.
func TestDaemonCtlAndCrash(t *testing.T) {
	bin := buildChorus(t)
	data := t.TempDir()
	home := t.TempDir()
	opEnv := append(os.Environ(), "CHORUS_DATA="+data)
	run := func(env []string, stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chorus %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	start := func(env []string, args ...string) (*exec.Cmd, io.Reader, *bytes.Buffer) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, out, &stderr
	}

	// The operator: an account, two tracks, an origin, a tracker.
	run(opEnv, "ann-password\n", "user", "add", "ann")
	music := t.TempDir()
	if err := samples.WriteFile(filepath.Join(music, "Test Band - Long Song.wav"), samples.Spec{Seconds: 60, SampleRate: 8000, Channels: 1, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := samples.WriteFile(filepath.Join(music, "Test Band - Short Song.wav"), samples.Spec{Seconds: 8, SampleRate: 8000, Channels: 1, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	run(opEnv, "", "ingest", "--quiet", music)
	originPort, trackerPort, apiPort := freePort(t), freePort(t), freePort(t)
	org := exec.Command(bin, "origin", "--dev", "--listen", fmt.Sprintf("127.0.0.1:%d", originPort))
	org.Env = opEnv
	orgErr, _ := org.StderrPipe()
	if err := org.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { org.Process.Kill(); org.Wait() })
	waitForLine(t, orgErr, "origin serving", time.Minute)
	// Access tokens of 35 s renew after 5 s (30 s before expiry), so the
	// daemon renews, and rotates the refresh token, during the test.
	tr := exec.Command(bin, "tracker", "--listen", fmt.Sprintf("127.0.0.1:%d", trackerPort), "--origin", fmt.Sprintf("https://127.0.0.1:%d", originPort), "--access-ttl", "35s")
	tr.Env = opEnv
	trErr, _ := tr.StderrPipe()
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Process.Kill(); tr.Wait() })
	waitForLine(t, trErr, "tracker serving", time.Minute)
	trackerURL := fmt.Sprintf("http://127.0.0.1:%d", trackerPort)

	// The listener logs in once.
	uenv := userEnv(home)
	out := run(uenv, "ann-password\n", "login", "--tracker", trackerURL, "--user", "ann")
	if !strings.Contains(out, "logged in as ann") {
		t.Fatalf("login said %q", out)
	}
	if bad := exec.Command(bin, "login", "--tracker", trackerURL, "--user", "ann"); true {
		bad.Env, bad.Stdin = uenv, strings.NewReader("wrong\n")
		if msg, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(msg), "wrong account name or password") {
			t.Errorf("login with a wrong password: %v %s; want a clear failure", err, msg)
		}
	}
	cfgDir := filepath.Join(home, ".config", "chorus")
	cacheDir := filepath.Join(home, ".cache", "chorus", "cache")
	if st, err := os.Stat(filepath.Join(cfgDir, daemon.SessionFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v, mode %v; want 0600", err, st.Mode())
	}

	loginSession, err := os.ReadFile(filepath.Join(cfgDir, daemon.SessionFile))
	if err != nil {
		t.Fatal(err)
	}
	daemonArgs := []string{"daemon", "--api", fmt.Sprintf("127.0.0.1:%d", apiPort), "--origin-ca", filepath.Join(data, "tls", "origin-ca.pem"), "--speed", "4"}
	d1, d1Out, d1Err := start(uenv, daemonArgs...)
	lines := waitForLine(t, d1Out, "try: chorus ctl", time.Minute)
	if !strings.Contains(strings.Join(lines, "\n"), "/login?token=") {
		t.Errorf("the daemon printed no login link:\n%s", strings.Join(lines, "\n"))
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	keyBytes, err := os.ReadFile(filepath.Join(cfgDir, daemon.APIKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(keyBytes))
	statusEvents(t, base, key, "connected", time.Minute, func(s daemon.Status) bool { return s.Connected })

	ctl := func(args ...string) string { return run(uenv, "", append([]string{"ctl"}, args...)...) }
	if out := ctl("search", "Song"); !strings.Contains(out, "Long Song") || !strings.Contains(out, "Short Song") {
		t.Fatalf("ctl search Song:\n%s", out)
	}
	var res struct{ Tracks []daemon.Track }
	if err := json.Unmarshal([]byte(ctl("search", "--json", "Long")), &res); err != nil || len(res.Tracks) != 1 {
		t.Fatalf("ctl search --json Long: %v %+v", err, res)
	}
	long := res.Tracks[0].ID
	if err := json.Unmarshal([]byte(ctl("--json", "search", "Short")), &res); err != nil || len(res.Tracks) != 1 {
		t.Fatalf("ctl --json search Short: %v %+v", err, res)
	}
	short := res.Tracks[0].ID
	if out := ctl("queue", "add", short); !strings.Contains(out, "Short Song") {
		t.Fatalf("ctl queue add:\n%s", out)
	}
	if out := ctl("queue", "ls"); !strings.Contains(out, "Short Song") {
		t.Fatalf("ctl queue ls:\n%s", out)
	}
	if out := ctl("play", long); !strings.Contains(out, "Long Song") {
		t.Fatalf("ctl play:\n%s", out)
	}
	if out := ctl("status"); !strings.Contains(out, "Long Song") || !strings.Contains(out, "queue") || !strings.Contains(out, "1 tracks") {
		t.Fatalf("ctl status:\n%s", out)
	}
	if out := ctl("url"); !strings.HasPrefix(out, base+"/audio/current?t=") {
		t.Fatalf("ctl url = %q", out)
	}
	bad := exec.Command(bin, "ctl", "queue", "rm", "5")
	bad.Env = uenv
	if msg, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(msg), "out of range") {
		t.Errorf("ctl queue rm 5: %v %s; want an out-of-range error", err, msg)
	}

	// Mid-play, once the session was renewed (the login's access token
	// is due 5 s after the login; a search a status event asks for it):
	// kill -9.
	sessionFile := filepath.Join(cfgDir, daemon.SessionFile)
	statusEvents(t, base, key, "12 s into the long song, with the session renewed", time.Minute, func(s daemon.Status) bool {
		if now, _ := os.ReadFile(sessionFile); bytes.Equal(now, loginSession) {
			req, _ := http.NewRequest("GET", base+"/api/search?q=Song", nil)
			req.Header.Set("X-API-Key", key)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			return false
		}
		return s.Track != nil && s.Track.ID == long && s.PositionMS >= 12000
	})
	before := getStatus(t, base, key)
	if before.Node == nil || len(before.Node.Addrs) == 0 {
		t.Fatalf("status names no node addresses: %+v", before.Node)
	}
	if err := d1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d1.Wait()
	saved, pos, queue, err := daemon.ReadState(daemon.Paths{Config: cfgDir})
	if err != nil || saved == nil || saved.ID != long {
		t.Fatalf("saved state after kill -9: %v %+v", err, saved)
	}
	if pos < before.PositionMS-5000 || pos > before.PositionMS+5000 {
		t.Errorf("saved position %d ms; the daemon was at %d ms just before kill -9: more than 5 s of audio lost", pos, before.PositionMS)
	}
	if len(queue) != 1 || queue[0].ID != short {
		t.Errorf("saved queue %+v; want the short song", queue)
	}
	var cached int
	filepath.WalkDir(cacheDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			cached++
		}
		return nil
	})
	if cached < 10 {
		t.Fatalf("the cache dir holds %d files after playing 12 s; want the chunks", cached)
	}
	identity, err := os.ReadFile(filepath.Join(cfgDir, "node", "identity.key"))
	if err != nil {
		t.Fatalf("node identity: %v", err)
	}

	// The origin goes too: what plays next must come from the cache.
	org.Process.Kill()
	org.Wait()
	d2, d2Out, d2Err := start(uenv, daemonArgs...)
	waitForLine(t, d2Out, "try: chorus ctl", time.Minute)
	st := statusEvents(t, base, key, "connected with the saved play", time.Minute, func(s daemon.Status) bool { return s.Connected && s.Track != nil })
	if st.Track.ID != long || st.State != "paused" || st.PositionMS < pos-1000 || st.PositionMS > pos+1000 {
		t.Fatalf("after restart: %+v; want the long song paused at %d ms", st, pos)
	}
	ctl("resume")
	st = statusEvents(t, base, key, "4 s further", time.Minute, func(s daemon.Status) bool { return s.State == "playing" && s.PositionMS >= pos+4000 })
	if st.Play.Bytes["origin"] != 0 || st.Play.Bytes["cache"] == 0 {
		t.Errorf("resumed play's bytes %v; want all from the cache", st.Play.Bytes)
	}
	if again, _ := os.ReadFile(filepath.Join(cfgDir, "node", "identity.key")); !bytes.Equal(again, identity) {
		t.Error("the node identity changed across the restart")
	}
	// The node listens where it did (its peer records and bootstrap
	// entries stay good), though the configured port is 0 (any).
	if got := getStatus(t, base, key).Node; got == nil || !slices.Equal(got.Addrs, before.Node.Addrs) {
		t.Errorf("node addresses after the restart: %+v; want the ones before kill -9, %v", got, before.Node.Addrs)
	}

	// The tracker goes away: the cached play goes on, and the status says
	// so.
	tr.Process.Kill()
	tr.Wait()
	srch := exec.Command(bin, "ctl", "search", "Song")
	srch.Env = uenv
	if msg, err := srch.CombinedOutput(); err == nil || !strings.Contains(string(msg), "tracker unreachable") {
		t.Errorf("ctl search with the tracker away: %v %s; want a tracker unreachable error", err, msg)
	}
	at := getStatus(t, base, key).PositionMS
	st = statusEvents(t, base, key, "playing on without the tracker", time.Minute, func(s daemon.Status) bool {
		return !s.TrackerReachable && s.State == "playing" && s.PositionMS >= at+2000
	})
	if out := ctl("status"); !strings.Contains(out, "UNREACHABLE") {
		t.Errorf("ctl status with the tracker away does not say so:\n%s", out)
	}

	// SIGTERM stops the daemon cleanly.
	if err := d2.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d2.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("daemon exited with %v after SIGTERM; want 0\n%s", err, d2Err)
		}
	case <-time.After(time.Minute):
		t.Errorf("daemon did not exit within a minute of SIGTERM\n%s", d2Err)
	}

	// A daemon started while the tracker is away says why it waits, and
	// connects when the tracker is back.
	_, d3Out, d3Err := start(uenv, daemonArgs...)
	waitForLine(t, d3Out, "try: chorus ctl", time.Minute)
	st = statusEvents(t, base, key, "waiting for the tracker", time.Minute, func(s daemon.Status) bool {
		return !s.Connected && strings.Contains(s.Connecting, "tracker unreachable")
	})
	if out := ctl("status"); !strings.Contains(out, "connecting") {
		t.Errorf("ctl status while waiting for the tracker:\n%s", out)
	}
	tr2 := exec.Command(bin, "tracker", "--listen", fmt.Sprintf("127.0.0.1:%d", trackerPort), "--origin", fmt.Sprintf("https://127.0.0.1:%d", originPort), "--access-ttl", "35s")
	tr2.Env = opEnv
	tr2Err, _ := tr2.StderrPipe()
	if err := tr2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr2.Process.Kill(); tr2.Wait() })
	waitForLine(t, tr2Err, "tracker serving", time.Minute)
	st = statusEvents(t, base, key, "connected once the tracker is back", time.Minute, func(s daemon.Status) bool {
		return s.Connected && s.TrackerReachable && s.Track != nil && s.Track.ID == long
	})
	if st.Node == nil || !slices.Equal(st.Node.Addrs, before.Node.Addrs) {
		t.Errorf("node addresses after a clean restart: %+v; want %v", st.Node, before.Node.Addrs)
	}
	if t.Failed() {
		t.Logf("third daemon's log:\n%s", d3Err)
	}
	if t.Failed() {
		t.Logf("first daemon's log:\n%s\nsecond daemon's log:\n%s", d1Err, d2Err)
	}
}

// demoCtl runs the `chorus ctl --config-dir DIR search Light` line the
// demo prints, with the test's binary, and expects the demo's tracks.
func demoCtl(t *testing.T, bin, line string) {
	t.Helper()
	// The line is run as printed, from another directory: it names this
	// binary (not "go run ./cmd/chorus", which works only in the source
	// tree), so a newcomer can paste it into another terminal.
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, bin+" ctl ") {
		t.Fatalf("demo's ctl line %q does not start with the binary it ran as (%s)", line, bin)
	}
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "First Light") {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
}

// TestDaemonSettingsPrecedence: a flag beats the environment, which beats
// config.json.
func TestDaemonSettingsPrecedence(t *testing.T) {
	env := &cmdEnv{stderr: io.Discard}
	fs := newFlags(env, "daemon", "")
	sets := addSettingFlags(fs)
	if _, err := parseFlags(fs, []string{"--upload-slots", "7"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHORUS_UPLOAD_SLOTS", "3")
	t.Setenv("CHORUS_UPLOAD_RATE", "100")
	cfg := daemon.DefaultConfig()
	cfg.UploadBytesPerSecond = 5
	cfg.CacheMaxBytes = 12345
	if err := sets.resolve(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.UploadSlots != 7 || cfg.UploadBytesPerSecond != 100 || cfg.CacheMaxBytes != 12345 {
		t.Fatalf("resolved slots %d (want the flag's 7), rate %d (want the env's 100), cache %d (want the file's 12345)",
			cfg.UploadSlots, cfg.UploadBytesPerSecond, cfg.CacheMaxBytes)
	}
	t.Setenv("CHORUS_SPEED", "fast")
	if err := sets.resolve(&cfg); err == nil || !strings.Contains(err.Error(), "CHORUS_SPEED") {
		t.Fatalf("resolve with CHORUS_SPEED=fast = %v; want an error naming it", err)
	}
}

// TestDaemonRefusesRemoteAPIWithoutFlag: an API beyond loopback needs
// --api-remote; a missing session is said in words.
func TestDaemonRefusesRemoteAPIWithoutFlag(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"daemon", "--api", "0.0.0.0:0"}, strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--api-remote") {
		t.Fatalf("daemon --api 0.0.0.0:0 = %v; want a refusal naming --api-remote", err)
	}
	if !strings.Contains(stdout.String(), "first run: wrote the default settings") {
		t.Errorf("first run did not say it wrote the defaults:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(home, ".config", "chorus", daemon.ConfigFile)); err != nil {
		t.Errorf("config.json after the first run: %v", err)
	}
	err = run(t.Context(), []string{"ctl", "status"}, strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "has `chorus daemon` run") {
		t.Errorf("ctl before any daemon ran = %v; want it to say so", err)
	}
	err = run(t.Context(), []string{"login"}, strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--user") {
		t.Errorf("login without a user = %v; want it to ask for --user", err)
	}
}
