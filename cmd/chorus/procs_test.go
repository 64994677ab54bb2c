package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client"
)

// procWait bounds every wait on a process's output or exit in the
// multi-process tests: generous for a loaded 2-core machine, and only ever
// reached when something is broken.
const procWait = 90 * time.Second

// proc is one chorus process run by a test, its stdout and stderr merged
// into a log the test waits on.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, set before done closes

	mu      sync.Mutex    // guards lines and changed
	lines   []string      // output so far
	changed chan struct{} // closed and replaced at each new line
}

// start runs bin with args, with stdin as its standard input. The process
// is killed at the end of the test if still running.
func startProc(t *testing.T, name, stdin, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{}), changed: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdin = strings.NewReader(stdin)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: start: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s output:\n%s", p.name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitFor waits until a line of output contains want and returns it.
func (p *proc) waitFor(want string) string {
	p.t.Helper()
	deadline := time.After(procWait)
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if strings.Contains(l, want) {
				p.mu.Unlock()
				return l
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.done:
			// The reader may still hold the last lines: look once more
			// after it has drained the pipe.
			select {
			case <-ch:
				continue
			case <-time.After(time.Second):
			}
			p.t.Fatalf("%s exited (%v) before printing %q", p.name, p.err, want)
		case <-deadline:
			p.t.Fatalf("%s printed no %q within %v", p.name, want, procWait)
		}
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(procWait):
		p.t.Fatalf("%s did not exit within %v", p.name, procWait)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	p.t.Fatalf("%s: %v", p.name, p.err)
	return -1
}

// stop sends SIGINT and expects a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatalf("%s: SIGINT: %v", p.name, err)
	}
	if code := p.wait(); code != 0 {
		p.t.Fatalf("%s exited %d after SIGINT; want 0", p.name, code)
	}
}

// stats decodes the play statistics a finished `chorus play --out FILE`
// printed (the JSON object in its output).
func (p *proc) stats() client.PlayStats {
	p.t.Helper()
	out := p.output()
	i, j := strings.Index(out, "{"), strings.LastIndex(out, "}")
	var st client.PlayStats
	if i < 0 || j < i {
		p.t.Fatalf("%s printed no statistics", p.name)
	}
	if err := json.Unmarshal([]byte(out[i:j+1]), &st); err != nil {
		p.t.Fatalf("%s: statistics are not JSON: %v", p.name, err)
	}
	return st
}

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
		cmd := exec.Command(bin, append(args, "--data", s.data)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chorus %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
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
	s.trackerArgs = []string{"tracker", "--data", s.data, "--listen", api,
		"--origin", "https://" + s.originAt, "--dht-listen", fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", freePort(t))}
	s.startTracker()
	s.originCA = filepath.Join(s.data, "tls", "origin-ca.pem")
	return s
}

// startTracker starts the tracker (again) with the same flags.
func (s *swarmSite) startTracker() {
	s.t.Helper()
	s.tracker = startProc(s.t, "tracker", "", s.bin, s.trackerArgs...)
	s.tracker.waitFor("dht server serving")
	s.tracker.waitFor("tracker serving")
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
