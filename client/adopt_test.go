package client_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/protocol"
)

// TestAdoptSavesASessionResumeTakesUp: a session kept elsewhere, adopted,
// is in the session file (0600) for the next Tracker's Resume; one without
// a refresh token is refused and writes nothing.
func TestAdoptSavesASessionResumeTakesUp(t *testing.T) {
	file := filepath.Join(t.TempDir(), "session.json")
	opts := client.TrackerOptions{URL: "http://127.0.0.1:1", SessionFile: file}
	tr, err := client.NewTracker(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Adopt(protocol.Session{Account: "ann"}); err == nil {
		t.Fatal("Adopt of a session without a refresh token succeeded")
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a refused Adopt wrote the session file")
	}
	s := protocol.Session{Account: "ann", RefreshToken: "r1", RefreshExpiresAt: time.Now().Add(time.Hour)}
	if err := tr.Adopt(s); err != nil || tr.Account() != "ann" {
		t.Fatalf("Adopt = %v, account %q", err, tr.Account())
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("session file after Adopt: %v %v; want 0600", st, err)
	}
	again, err := client.NewTracker(opts)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := again.Resume(); !ok || err != nil || again.Account() != "ann" {
		t.Fatalf("Resume after Adopt = %v, %v, account %q; want the adopted session", ok, err, again.Account())
	}
}
