package trackertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/store/sqlite"
)

// CheapArgon2 are argon2id parameters cheap enough for tests (never for
// production).
var CheapArgon2 = tracker.Argon2Params{Time: 1, MemoryK: 64, Threads: 1}

// DefaultPassword is the password User gives accounts.
const DefaultPassword = "correct horse battery staple"

// Harness is a real tracker on a real SQLite file in a temp dir, served by
// httptest on loopback.
type Harness struct {
	Server *tracker.Server
	Store  *sqlite.Store
	HTTP   *httptest.Server
	URL    string // base URL, e.g. http://127.0.0.1:PORT
	DBPath string
	Client *http.Client
}

// Option adjusts the tracker's Options before New. Store is already set.
type Option func(*tracker.Options)

// WithClock runs the tracker on clk (a *clock.Fake for virtual time).
func WithClock(clk clock.Clock) Option { return func(o *tracker.Options) { o.Clock = clk } }

// New starts a tracker. By default it uses the wall clock, CheapArgon2, a
// discarding logger and its own registry; opts can change any of that (a
// clock.Fake for virtual time, Origins, TTLs). Everything is closed when the
// test ends.
func New(t testing.TB, opts ...Option) *Harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tracker.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("trackertest: sqlite.Open: %v", err)
	}
	o := tracker.Options{Store: st, Argon2: CheapArgon2}
	for _, f := range opts {
		f(&o)
	}
	srv, err := tracker.New(o)
	if err != nil {
		st.Close()
		t.Fatalf("trackertest: tracker.New: %v", err)
	}
	ts := httptest.NewServer(srv)
	h := &Harness{Server: srv, Store: st, HTTP: ts, URL: ts.URL, DBPath: path, Client: ts.Client()}
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
		st.Close()
	})
	return h
}

// CreateUser adds an account.
func (h *Harness) CreateUser(t testing.TB, name, password string) {
	t.Helper()
	if err := h.Server.CreateAccount(context.Background(), name, password); err != nil {
		t.Fatalf("trackertest: CreateAccount(%q): %v", name, err)
	}
}

// Login logs in over HTTP and returns the session.
func (h *Harness) Login(t testing.TB, name, password string) protocol.Session {
	t.Helper()
	var s protocol.Session
	if code := h.Do(t, http.MethodPost, protocol.PathLogin, "", protocol.LoginRequest{Username: name, Password: password}, &s); code != http.StatusOK {
		t.Fatalf("trackertest: login %q: status %d", name, code)
	}
	return s
}

// User creates an account with DefaultPassword and logs it in.
func (h *Harness) User(t testing.TB, name string) protocol.Session {
	t.Helper()
	h.CreateUser(t, name, DefaultPassword)
	return h.Login(t, name, DefaultPassword)
}

// Ingest ingests a file into sink, failing the test on error.
func (h *Harness) Ingest(t testing.TB, path string, sink catalog.ChunkSink) protocol.TrackSummary {
	t.Helper()
	sum, _, err := h.Server.Ingest(context.Background(), path, sink, nil)
	if err != nil {
		t.Fatalf("trackertest: Ingest(%q): %v", path, err)
	}
	return sum
}

// Do sends a request with an optional bearer token and JSON body (nil for
// none), decodes a 2xx JSON answer into out when out is not nil, and
// returns the status code. A non-2xx body is decoded into out when out is a
// *protocol.Error.
func (h *Harness) Do(t testing.TB, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("trackertest: marshal: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		t.Fatalf("trackertest: %s %s: %v", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		t.Fatalf("trackertest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("trackertest: %s %s: read body: %v", method, path, err)
	}
	_, isErr := out.(*protocol.Error)
	if out != nil && len(data) > 0 && ((resp.StatusCode/100 == 2) != isErr) {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("trackertest: %s %s: status %d: decode %q: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// Keys fetches GET /v1/keys (tests that check the endorsement chain use
// tracker.VerifyKeyChain on it).
func (h *Harness) Keys(t testing.TB) protocol.SigningKeys {
	t.Helper()
	var ks protocol.SigningKeys
	if code := h.Do(t, http.MethodGet, protocol.PathKeys, "", nil, &ks); code != http.StatusOK {
		t.Fatalf("trackertest: GET %s: status %d", protocol.PathKeys, code)
	}
	if len(ks.Keys) == 0 {
		t.Fatalf("trackertest: GET %s: no keys", protocol.PathKeys)
	}
	return ks
}

// String describes the harness for test logs.
func (h *Harness) String() string { return fmt.Sprintf("tracker at %s (db %s)", h.URL, h.DBPath) }

// MemSink is an in-memory catalog.ChunkSink. It checks each chunk's CID.
type MemSink struct {
	mu     sync.Mutex // guards chunks
	chunks map[cid.Cid][]byte
}

var _ catalog.ChunkSink = (*MemSink)(nil)

// Put implements catalog.ChunkSink.
func (m *MemSink) Put(ctx context.Context, c cid.Cid, ciphertext []byte) error {
	if !catalog.VerifyCID(c, ciphertext) {
		return fmt.Errorf("trackertest: chunk does not hash to %s", c)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.chunks == nil {
		m.chunks = make(map[cid.Cid][]byte)
	}
	m.chunks[c] = bytes.Clone(ciphertext)
	return nil
}

// Get returns a stored chunk.
func (m *MemSink) Get(c cid.Cid) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.chunks[c]
	return b, ok
}

// Len reports how many distinct chunks the sink holds.
func (m *MemSink) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.chunks)
}
