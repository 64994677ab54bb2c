package main

// The helpers every whole-binary test shares: running a command, starting
// a long-running one (tracker, origin, node, daemon) and waiting on its
// output, free ports. Each test starts the roles as separate processes, in
// a user's order, and waits on what they print, never on sleeps.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client"
)

// runEnv runs the built binary with env (nil: this process's) and returns
// its stdout, stderr and error. It gives up after two minutes.
func runEnv(t testing.TB, bin string, env []string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustRunEnv is runEnv that fails the test on an error.
func mustRunEnv(t testing.TB, bin string, env []string, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := runEnv(t, bin, env, stdin, args...)
	if err != nil {
		t.Fatalf("chorus %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// dataEnv is this process's environment with CHORUS_DATA=data.
func dataEnv(data string, extra ...string) []string {
	return append(append(os.Environ(), "CHORUS_DATA="+data), extra...)
}

// chorusRun runs the built binary with CHORUS_DATA=data and returns its
// stdout, stderr and error.
func chorusRun(t testing.TB, bin, data, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return runEnv(t, bin, dataEnv(data), stdin, args...)
}

// mustRun is chorusRun that fails the test on an error.
func mustRun(t testing.TB, bin, data, stdin string, args ...string) string {
	t.Helper()
	return mustRunEnv(t, bin, dataEnv(data), stdin, args...)
}

// startTrackerProc runs `chorus tracker args...` with env (nil: this
// process's) and waits until it serves: its "tracker serving" line, and
// with --serve-origin its "origin serving" line too. It returns the
// process and the API's base URL, read from that line (so --listen
// 127.0.0.1:0 works).
func startTrackerProc(t *testing.T, bin string, env []string, args ...string) (*proc, string) {
	t.Helper()
	p := startProcEnv(t, "tracker", env, "", bin, append([]string{"tracker"}, args...)...)
	line := p.waitFor("tracker serving")
	m := regexp.MustCompile(`url=(http://\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no url in the tracker's line %q", line)
	}
	if slices.Contains(args, "--serve-origin") {
		p.waitFor("origin serving")
	}
	return p, m[1]
}

const testPassword = "s3cret-passw0rd"

// liveTracker is a `chorus tracker --serve-origin --dev` process with one
// account ("bob") and the files given ingested.
type liveTracker struct {
	bin, data string
	api       string // http://127.0.0.1:port
	ca        string // the dev origin's CA file
	ids       map[string]string
}

// startTracker prepares a data directory, ingests files and starts the
// tracker, killed at the end of the test.
func startTracker(t *testing.T, files ...string) *liveTracker {
	t.Helper()
	bin := buildChorus(t)
	lt := &liveTracker{bin: bin, data: t.TempDir(), ids: map[string]string{}}
	mustRun(t, bin, lt.data, testPassword+"\n", "user", "add", "bob")
	for _, f := range files {
		out := mustRun(t, bin, lt.data, "", "ingest", "--quiet", f)
		lt.ids[filepath.Base(f)] = strings.Fields(out)[0]
	}
	_, lt.api = startTrackerProc(t, bin, dataEnv(lt.data), "--listen", "127.0.0.1:0",
		"--serve-origin", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--dev")
	lt.ca = filepath.Join(lt.data, "tls", "origin-ca.pem")
	return lt
}

// playArgs returns the arguments of a fast play of track into out.
func (lt *liveTracker) playArgs(clientDir, out, track string, extra ...string) []string {
	args := []string{"play", "--tracker", lt.api, "--user", "bob", "--data", clientDir,
		"--origin-ca", lt.ca, "--speed", "64", "--out", out}
	return append(append(args, extra...), track)
}

// testdata returns the path of a file in catalog/testdata.
func testdata(name string) string {
	return filepath.Join("..", "..", "catalog", "testdata", name)
}

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

// startProc runs bin with args, with stdin as its standard input. The
// process is killed at the end of the test if still running.
func startProc(t *testing.T, name, stdin, bin string, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, name, nil, stdin, bin, args...)
}

// startProcEnv is startProc with the environment env (nil: this
// process's).
func startProcEnv(t *testing.T, name string, env []string, stdin, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	return startProcCmd(t, name, cmd)
}

// startProcCmd starts cmd, prepared but for its output (its directory,
// environment, stdin), as a proc.
func startProcCmd(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
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

// kill sends SIGKILL (kill -9) and waits until the process is gone.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("%s: kill: %v", p.name, err)
	}
	<-p.done
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

// waitForLine reads r until a line contains want, or fails at the deadline.
func waitForLine(t testing.TB, r io.Reader, want string, timeout time.Duration) []string {
	t.Helper()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %q:\n%s", want, strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if strings.Contains(l, want) {
				go func() {
					for range lines {
					}
				}()
				return seen
			}
		case <-deadline:
			t.Fatalf("no %q within %v:\n%s", want, timeout, strings.Join(seen, "\n"))
		}
	}
}

// freePort finds a loopback port free on both TCP and UDP.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}
