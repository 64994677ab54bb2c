package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLoginFailuresSayWhatToDo: play, node and login against a tracker
// that is not running, and with a wrong password, fail at once with a
// message that names the tracker and what to do, not only the HTTP error.
func TestLoginFailuresSayWhatToDo(t *testing.T) {
	lt := startTracker(t)
	dead := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	track := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	out := filepath.Join(t.TempDir(), "x.flac")
	for _, tt := range []struct {
		name, password string
		args           []string
		want           []string
	}{
		{"play, no tracker", testPassword, []string{"play", "--tracker", dead, "--user", "bob", "--data", t.TempDir(), "--out", out, track},
			[]string{"no tracker answers at " + dead, "chorus tracker", "--tracker URL"}},
		{"node, no tracker", testPassword, []string{"node", "--tracker", dead, "--user", "bob", "--data", t.TempDir()},
			[]string{"no tracker answers at " + dead, "chorus tracker", "--tracker URL"}},
		{"login, no tracker", testPassword, []string{"login", "--tracker", dead, "--user", "bob", "--config-dir", t.TempDir()},
			[]string{"no tracker answers at " + dead, "chorus tracker", "--tracker URL"}},
		{"play, wrong password", "wrong", []string{"play", "--tracker", lt.api, "--user", "bob", "--data", t.TempDir(), "--origin-ca", lt.ca, "--out", out, track},
			[]string{"wrong account name or password for bob at " + lt.api, "chorus user add"}},
		{"node, wrong password", "wrong", []string{"node", "--tracker", lt.api, "--user", "bob", "--data", t.TempDir()},
			[]string{"wrong account name or password for bob", "chorus user add"}},
		{"login, wrong password", "wrong", []string{"login", "--tracker", lt.api, "--user", "bob", "--config-dir", t.TempDir()},
			[]string{"wrong account name or password for bob"}},
	} {
		start := time.Now()
		_, errOut, err := chorusRun(t, lt.bin, lt.data, tt.password+"\n", tt.args...)
		if err == nil {
			t.Errorf("%s succeeded; want a failure", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s said %q; want it to contain %q", tt.name, errOut, w)
			}
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s took %v to fail; want at once", tt.name, d)
		}
	}
}
