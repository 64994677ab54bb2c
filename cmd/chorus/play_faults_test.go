package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPlayTrackerDownSaysSo: `chorus play` against a tracker that is not
// running fails at once, saying the tracker is unreachable and where.
func TestPlayTrackerDownSaysSo(t *testing.T) {
	bin := buildChorus(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A well-formed track ID: a malformed one is refused before any
	// request, and the tracker is not asked at all.
	play := exec.CommandContext(ctx, bin, "play", "--tracker", "http://"+addr, "--user", "bob",
		"--data", t.TempDir(), "--out", filepath.Join(t.TempDir(), "out.flac"), "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
	play.Stdin = strings.NewReader("s3cret-passw0rd\n")
	var stderr bytes.Buffer
	play.Stderr = &stderr
	err = play.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("chorus play with the tracker down: %v; want exit status 1\n%s", err, stderr.String())
	}
	if msg := stderr.String(); !strings.Contains(msg, "tracker unreachable") || !strings.Contains(msg, addr) {
		t.Errorf("stderr = %q; want it to say the tracker at %s is unreachable", msg, addr)
	}
}
