package daemon

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
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
