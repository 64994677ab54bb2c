package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDamagedFiles: every file the daemon reads at start either works or
// gives an error that says what to do.
func TestDamagedFiles(t *testing.T) {
	p := Paths{Config: t.TempDir(), Cache: t.TempDir()}
	tr, err := newTracker(p, "http://127.0.0.1:1", time.Second, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumeSession(p, tr, "http://127.0.0.1:1"); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("resume without a file = %v; want ErrNotLoggedIn", err)
	}
	for _, body := range []string{"{", `{"account":"a"}`, "", `{"tracker":"http://elsewhere:1","session":{"refresh_token":"r","refresh_expires_at":"2999-01-01T00:00:00Z"}}`} {
		if err := os.WriteFile(p.sessionFile(), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := resumeSession(p, tr, "http://127.0.0.1:1"); !errors.Is(err, ErrNotLoggedIn) || !strings.Contains(err.Error(), "chorus login") {
			t.Errorf("resume of %q = %v; want ErrNotLoggedIn saying to log in again", body, err)
		}
		if again, _ := os.ReadFile(p.sessionFile()); string(again) != body {
			t.Errorf("resume of %q wrote over the file: %q", body, again)
		}
	}

	key, err := LoadAPIKey(p)
	if err != nil || len(key) < 32 {
		t.Fatalf("LoadAPIKey on first use = %q, %v", key, err)
	}
	if st, err := os.Stat(p.apiKeyFile()); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("API key file mode: %v %v; want 0600", st.Mode(), err)
	}
	if again, err := LoadAPIKey(p); err != nil || again != key {
		t.Fatalf("LoadAPIKey again = %q, %v; want the same key", again, err)
	}
	if err := os.WriteFile(p.apiKeyFile(), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAPIKey(p); !errors.Is(err, ErrBadConfig) {
		t.Errorf("LoadAPIKey of a short key = %v; want ErrBadConfig", err)
	}

	if tr, _, _, err := ReadState(p); err != nil || tr != nil {
		t.Errorf("ReadState without a file = %v, %v; want empty", tr, err)
	}
	if err := os.WriteFile(filepath.Join(p.Config, StateFile), []byte("{nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := ReadState(p); err == nil {
		t.Error("ReadState of a corrupt file succeeded")
	}
	if got := ReadAddress(p); got != "" {
		t.Errorf("ReadAddress with no daemon run = %q", got)
	}
	if _, err := ReadAPIKey(Paths{Config: t.TempDir()}); err == nil {
		t.Error("ReadAPIKey without a key succeeded")
	}
}

func TestCookieValueFollowsTheKey(t *testing.T) {
	a, b := cookieValue("key-one-key-one"), cookieValue("key-two-key-two")
	if a == b || a != cookieValue("key-one-key-one") || a == "key-one-key-one" {
		t.Fatalf("cookie values %q, %q: want stable, key-dependent and not the key", a, b)
	}
}
