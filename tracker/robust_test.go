package tracker_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

func TestWrongMethod(t *testing.T) {
	h := trackertest.New(t)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, protocol.PathLogin, "POST"},
		{http.MethodDelete, protocol.PathTracks, "GET"},
		{http.MethodPost, fillPattern(protocol.PathManifest, "x"), "GET"},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		rec := httptest.NewRecorder()
		h.Server.ServeHTTP(rec, req)
		var perr protocol.Error
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != tc.allow || decodeBody(rec.Body, &perr) != nil || perr.Code == "" {
			t.Errorf("%s %s = %d (Allow %q) %+v; want 405, Allow %q, JSON error", tc.method, tc.path, rec.Code, rec.Header().Get("Allow"), perr, tc.allow)
		}
	}
}

// faultyStore panics or fails on listing.
type faultyStore struct {
	store.Store
	panic bool
}

func (f faultyStore) ListTracks(ctx context.Context, limit, offset int) ([]store.TrackMeta, int, error) {
	if f.panic {
		panic("boom")
	}
	return nil, 0, context.DeadlineExceeded
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPanicAndStoreErrorGive500(t *testing.T) {
	for _, panics := range []bool{true, false} {
		var logs syncBuffer
		h := trackertest.New(t, func(o *tracker.Options) {
			o.Store = faultyStore{Store: o.Store, panic: panics}
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		sess := h.User(t, "alice")
		var perr protocol.Error
		if code := h.Do(t, http.MethodGet, protocol.PathTracks, sess.AccessToken, nil, &perr); code != http.StatusInternalServerError || perr.Code != protocol.CodeInternal {
			t.Errorf("panic=%v: GET tracks = %d %+v; want 500 internal", panics, code, perr)
		}
		if strings.Contains(perr.Error, "boom") || strings.Contains(perr.Error, "deadline") {
			t.Errorf("panic=%v: error body leaks detail %q", panics, perr.Error)
		}
		if want := map[bool]string{true: "boom", false: "deadline"}[panics]; !strings.Contains(logs.String(), want) {
			t.Errorf("panic=%v: logs lack %q", panics, want)
		}
		// The server goes on serving.
		if code := h.Do(t, http.MethodGet, protocol.PathKeys, "", nil, nil); code != http.StatusOK {
			t.Errorf("panic=%v: GET keys after failure = %d; want 200", panics, code)
		}
	}
}

// TestLogsHoldNoSecrets runs a whole session with a debug logger and checks
// that no password, token or track key reaches the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs syncBuffer
	h := trackertest.New(t, func(o *tracker.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	tr := h.Ingest(t, writeWAV(t, t.TempDir(), "Log", "Quiet", 1, 0.2), &trackertest.MemSink{})
	s1 := h.User(t, "alice")
	h.Do(t, http.MethodPost, protocol.PathLogin, "", protocol.LoginRequest{Username: "alice", Password: "wrong but secret"}, nil)
	var kr protocol.TrackKeyResponse
	h.Do(t, http.MethodGet, fillPattern(protocol.PathTrackKey, tr.ID), s1.AccessToken, nil, &kr)
	var s2 protocol.Session
	h.Do(t, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: s1.RefreshToken}, &s2)
	h.Do(t, http.MethodPost, protocol.PathLogout, s2.AccessToken, nil, nil)
	if len(kr.Key) == 0 {
		t.Fatal("no key served")
	}
	out := logs.String()
	if !strings.Contains(out, "track key served") || !strings.Contains(out, tr.ID) {
		t.Fatalf("logs lack the key-request audit line")
	}
	for name, secret := range map[string]string{
		"password": trackertest.DefaultPassword, "wrong password": "wrong but secret",
		"access token": s1.AccessToken, "refresh token": s1.RefreshToken,
		"renewed access token": s2.AccessToken, "renewed refresh token": s2.RefreshToken,
		"track key (base64)": base64.StdEncoding.EncodeToString(kr.Key), "track key (hex)": hex.EncodeToString(kr.Key),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain the %s", name)
		}
	}
}
