package daemon

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chorus-music/chorus/protocol"
)

// randomToken returns n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("daemon: crypto/rand failed: %v", err)) // never on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// LoadAPIKey reads the API key from the config directory, creating it
// (0600) on first use. Programs send it as X-API-Key.
func LoadAPIKey(p Paths) (string, error) {
	data, err := os.ReadFile(p.apiKeyFile())
	if errors.Is(err, fs.ErrNotExist) {
		key := randomToken(32)
		if err := writeFileAtomic(p.apiKeyFile(), []byte(key+"\n"), 0o600); err != nil {
			return "", err
		}
		return key, nil
	}
	if err != nil {
		return "", fmt.Errorf("daemon: read API key: %w", err)
	}
	key := strings.TrimSpace(string(data))
	if len(key) < 16 {
		return "", fmt.Errorf("%w: API key in %s is too short (delete the file to make a new one)", ErrBadConfig, p.apiKeyFile())
	}
	return key, nil
}

// ReadAPIKey reads an existing API key (for `chorus ctl`).
func ReadAPIKey(p Paths) (string, error) {
	data, err := os.ReadFile(p.apiKeyFile())
	if err != nil {
		return "", fmt.Errorf("daemon: no API key in %s (has `chorus daemon` run with this config directory?): %w", p.Config, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// equalSecret compares secrets in constant time.
func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// cookieValue derives the browser's session cookie from the API key: it
// survives daemon restarts and changes when the key file is replaced.
func cookieValue(apiKey string) string {
	m := hmac.New(sha256.New, []byte(apiKey))
	m.Write([]byte("chorus browser session v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// storedSession is session.json: what a restart needs to resume the
// tracker session without the password.
type storedSession struct {
	Tracker          string    `json:"tracker"`
	Account          string    `json:"account"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

func loadSession(p Paths) (*storedSession, error) {
	data, err := os.ReadFile(p.sessionFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, fmt.Errorf("daemon: read session: %w", err)
	}
	var s storedSession
	if err := json.Unmarshal(data, &s); err != nil || s.RefreshToken == "" {
		return nil, fmt.Errorf("%w: %s is damaged (run chorus login again)", ErrNotLoggedIn, p.sessionFile())
	}
	return &s, nil
}

// sessionKeeper is the tracker client's HTTP transport. It saves every
// session the tracker hands out (login and each renewal rotate the refresh
// token) to session.json with 0600 permissions before the client sees it,
// so a crash never loses the current refresh token; and it lets the daemon
// resume a stored session through client.Tracker's public Login: while a
// resume is armed, the one POST /v1/login is sent as POST /v1/renew with
// the stored refresh token, and the renewed session is what Login
// installs. It also tells the daemon whether the tracker answers.
//
// client.Tracker has no way to import or export a session; a
// Tracker.Resume(session) and a session callback there would replace this.
type sessionKeeper struct {
	base    http.RoundTripper
	paths   Paths
	tracker string
	reach   func(ok bool)

	mu     sync.Mutex // guards resume and the session file
	resume string     // refresh token for the next login, or ""
}

func (k *sessionKeeper) arm(refresh string) {
	k.mu.Lock()
	k.resume = refresh
	k.mu.Unlock()
}

// RoundTrip implements http.RoundTripper.
func (k *sessionKeeper) RoundTrip(req *http.Request) (*http.Response, error) {
	path := req.URL.Path
	if req.Method == http.MethodPost && path == protocol.PathLogin {
		k.mu.Lock()
		refresh := k.resume
		k.resume = ""
		k.mu.Unlock()
		if refresh != "" {
			body, _ := json.Marshal(protocol.RenewRequest{RefreshToken: refresh})
			r2 := req.Clone(req.Context())
			r2.URL.Path = protocol.PathRenew
			r2.Body = io.NopCloser(bytes.NewReader(body))
			r2.ContentLength = int64(len(body))
			r2.GetBody = nil
			req, path = r2, protocol.PathRenew
		}
	}
	resp, err := k.base.RoundTrip(req)
	if k.reach != nil {
		k.reach(err == nil && resp.StatusCode < 500)
	}
	if err != nil || resp.StatusCode != http.StatusOK || req.Method != http.MethodPost ||
		(path != protocol.PathLogin && path != protocol.PathRenew) {
		return resp, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("daemon: read session: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	var s protocol.Session
	if err := json.Unmarshal(data, &s); err != nil || s.RefreshToken == "" {
		return resp, nil // the client reports the bad answer
	}
	st, _ := json.MarshalIndent(storedSession{Tracker: k.tracker, Account: s.Account, RefreshToken: s.RefreshToken, RefreshExpiresAt: s.RefreshExpiresAt}, "", "  ")
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := writeFileAtomic(k.paths.sessionFile(), st, 0o600); err != nil {
		return nil, fmt.Errorf("daemon: keep session: %w", err)
	}
	return resp, nil
}
