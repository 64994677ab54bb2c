package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testPassword = "s3cret-passw0rd"

// chorusRun runs the built binary with CHORUS_DATA=data and returns its
// stdout, stderr and error.
func chorusRun(t *testing.T, bin, data, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "CHORUS_DATA="+data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustRun is chorusRun that fails the test on an error.
func mustRun(t *testing.T, bin, data, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := chorusRun(t, bin, data, stdin, args...)
	if err != nil {
		t.Fatalf("chorus %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// liveTracker is a `chorus tracker --serve-origin --dev` process with one
// account ("bob") and the files given ingested.
type liveTracker struct {
	bin, data string
	api       string // http://127.0.0.1:port
	ca        string // the dev origin's CA file
	ids       map[string]string
}

// startTracker prepares a data directory, ingests files and starts the
// tracker, stopped with SIGINT at cleanup.
func startTracker(t *testing.T, files ...string) *liveTracker {
	t.Helper()
	bin := buildChorus(t)
	lt := &liveTracker{bin: bin, data: t.TempDir(), ids: map[string]string{}}
	mustRun(t, bin, lt.data, testPassword+"\n", "user", "add", "bob")
	for _, f := range files {
		out := mustRun(t, bin, lt.data, "", "ingest", "--quiet", f)
		lt.ids[filepath.Base(f)] = strings.Fields(out)[0]
	}
	apiPort, originPort := freePort(t), freePort(t)
	tr := exec.Command(bin, "tracker", "--listen", fmt.Sprintf("127.0.0.1:%d", apiPort), "--serve-origin", fmt.Sprintf("127.0.0.1:%d", originPort), "--dev")
	tr.Env = append(os.Environ(), "CHORUS_DATA="+lt.data)
	trErr, err := tr.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tr.Process.Signal(syscall.SIGINT)
		tr.Wait()
	})
	waitForLine(t, trErr, "origin serving", time.Minute)
	lt.api = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
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
