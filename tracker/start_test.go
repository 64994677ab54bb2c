package tracker_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

// TestStart: one round trip gives the signed manifest and the key, with a
// valid access token or, once it expired, with the refresh token, which is
// renewed on the way (and then spent).
func TestStart(t *testing.T) {
	h, clk := fakeHarness(t)
	tr := h.Ingest(t, writeWAV(t, t.TempDir(), "Start Band", "Quick Song", 1, 0.5), &trackertest.MemSink{})
	sess := h.User(t, "alice")
	path := fillPattern(protocol.PathStart, tr.ID)

	var got protocol.StartResponse
	if code := h.Do(t, http.MethodPost, path, sess.AccessToken, protocol.StartRequest{}, &got); code != http.StatusOK {
		t.Fatalf("POST %s with an access token = %d; want 200", path, code)
	}
	if got.Manifest.TrackID != tr.ID || got.Key.TrackID != tr.ID || len(got.Key.Key) == 0 || len(got.Manifest.Signature) == 0 || got.Session != nil {
		t.Fatalf("start answer = %+v; want manifest and key of %s, no session", got, tr.ID)
	}
	var sep protocol.TrackKeyResponse
	if code := h.Do(t, http.MethodGet, fillPattern(protocol.PathTrackKey, tr.ID), sess.AccessToken, nil, &sep); code != http.StatusOK || !bytes.Equal(sep.Key, got.Key.Key) {
		t.Fatalf("separate key = %d %q; want the start answer's %q", code, sep.Key, got.Key.Key)
	}

	clk.Advance(time.Hour) // the access token expired; the refresh token lives on
	var e protocol.Error
	if code := h.Do(t, http.MethodPost, path, sess.AccessToken, protocol.StartRequest{}, &e); code != http.StatusUnauthorized {
		t.Fatalf("start with an expired access token alone = %d; want 401", code)
	}
	var renewed protocol.StartResponse
	if code := h.Do(t, http.MethodPost, path, sess.AccessToken, protocol.StartRequest{RefreshToken: sess.RefreshToken}, &renewed); code != http.StatusOK {
		t.Fatalf("start with the refresh token = %d; want 200", code)
	}
	ns := renewed.Session
	if ns == nil || ns.Account != "alice" || ns.AccessToken == sess.AccessToken || ns.RefreshToken == sess.RefreshToken || !bytes.Equal(renewed.Key.Key, got.Key.Key) {
		t.Fatalf("renewed start = %+v; want a new session for alice and the same key", renewed)
	}
	if code := h.Do(t, http.MethodGet, fillPattern(protocol.PathTrackKey, tr.ID), ns.AccessToken, nil, &sep); code != http.StatusOK {
		t.Fatalf("key with the renewed access token = %d; want 200", code)
	}
	if code := h.Do(t, http.MethodPost, path, "", protocol.StartRequest{RefreshToken: sess.RefreshToken}, &e); code != http.StatusUnauthorized {
		t.Errorf("start with a spent refresh token = %d; want 401", code)
	}
	for name, req := range map[string]protocol.StartRequest{"none": {}, "garbage": {RefreshToken: "x"}, "unknown": {RefreshToken: ns.AccessToken}} {
		if code := h.Do(t, http.MethodPost, path, "", req, &e); code != http.StatusUnauthorized {
			t.Errorf("start with refresh token %s = %d; want 401", name, code)
		}
	}
	if code := h.Do(t, http.MethodPost, fillPattern(protocol.PathStart, "bafkreidoesnotexist"), ns.AccessToken, protocol.StartRequest{}, &e); code/100 != 4 {
		t.Errorf("start of an unknown track = %d; want 4xx", code)
	}
}
