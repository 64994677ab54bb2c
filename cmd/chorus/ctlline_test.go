package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDaemonPrintsACtlLineThatReachesIt: a daemon started with its own
// --config-dir (relative, as a user types it) prints a chorus ctl line
// that, run as printed from another directory, reaches that daemon, not
// the default one.
func TestDaemonPrintsACtlLineThatReachesIt(t *testing.T) {
	bin := buildChorus(t)
	home := t.TempDir()
	d := exec.Command(bin, "daemon", "--config-dir", "cfg", "--cache-dir", "cache", "--api", "127.0.0.1:0", "--tracker", "http://127.0.0.1:1")
	d.Dir = home
	d.Env = userEnv(home)
	p := startProcCmd(t, "daemon", d)
	line := p.waitFor("try: ")
	cmdline, _, _ := strings.Cut(strings.TrimPrefix(line, "try: "), "   (")
	if !strings.HasPrefix(cmdline, "chorus ctl --config-dir /") {
		t.Fatalf("daemon with --config-dir cfg says %q; want a chorus ctl line with its absolute --config-dir", line)
	}
	ctl := exec.Command("sh", "-c", bin+strings.TrimPrefix(cmdline, "chorus"))
	ctl.Dir = t.TempDir()
	ctl.Env = userEnv(t.TempDir()) // another HOME: no default daemon to find
	out, err := ctl.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "not logged in") {
		t.Fatalf("%s: %v\n%s\nwant this daemon's status (not logged in)", cmdline, err, out)
	}
}

// TestCtlErrorSaysDaemonOnce: an error answer from the daemon is printed
// with one "daemon:" prefix, not the daemon's own and ctl's.
func TestCtlErrorSaysDaemonOnce(t *testing.T) {
	lt := startTracker(t)
	home := t.TempDir()
	mustRunEnv(t, lt.bin, userEnv(home), testPassword+"\n", "login", "--tracker", lt.api, "--user", "bob")
	d := exec.Command(lt.bin, "daemon", "--api", "127.0.0.1:0", "--origin-ca", lt.ca)
	d.Env = userEnv(home)
	startProcCmd(t, "daemon", d).waitFor("daemon connected")
	_, out, err := runEnv(t, lt.bin, userEnv(home), "", "ctl", "play", "nosuchid")
	if err == nil {
		t.Fatalf("ctl play nosuchid succeeded:\n%s", out)
	}
	if !strings.Contains(out, "unknown track") || strings.Count(out, "daemon:") != 1 {
		t.Errorf("ctl play nosuchid said %q; want unknown track, with one daemon: prefix", out)
	}
}
