package tracker_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
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

// startLogin sends a start for track id carrying a username and password,
// from remote, as the client without a saved session does.
func startLogin(t *testing.T, h *trackertest.Harness, remote, id, user, pw string) *httptest.ResponseRecorder {
	t.Helper()
	body, err := json.Marshal(protocol.StartRequest{Username: user, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, fillPattern(protocol.PathStart, id), bytes.NewReader(body))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.Server.ServeHTTP(rec, req)
	return rec
}

func wantStart(t *testing.T, h *trackertest.Harness, remote, id, user, pw string, want int) *httptest.ResponseRecorder {
	t.Helper()
	rec := startLogin(t, h, remote, id, user, pw)
	if rec.Code != want {
		t.Fatalf("start of %s as %s from %s = %d (%s); want %d", id, user, remote, rec.Code, strings.TrimSpace(rec.Body.String()), want)
	}
	return rec
}

// TestStartLogin: a start carrying a username and password logs in on the
// way: the answer carries a new session besides the manifest and the key.
// A wrong password or an unknown account is a 401 with no key; an unknown
// track a 404 after the password check, with no session (and a wrong
// password there is still a 401, so the route tells nothing of the catalog
// to a caller without the password).
func TestStartLogin(t *testing.T) {
	h, _ := fakeHarness(t)
	tr := h.Ingest(t, writeWAV(t, t.TempDir(), "Start Band", "Login Song", 2, 0.5), &trackertest.MemSink{})
	h.CreateUser(t, "alice", trackertest.DefaultPassword)

	rec := wantStart(t, h, "192.0.2.1:5000", tr.ID, "alice", trackertest.DefaultPassword, http.StatusOK)
	var got protocol.StartResponse
	if err := decodeBody(rec.Body, &got); err != nil {
		t.Fatal(err)
	}
	s := got.Session
	if s == nil || s.Account != "alice" || s.AccessToken == "" || s.RefreshToken == "" || got.Key.TrackID != tr.ID || len(got.Key.Key) == 0 || got.Manifest.TrackID != tr.ID {
		t.Fatalf("start with a password = %+v; want alice's new session, the manifest and the key", got)
	}
	// The session is real: its access token gets the key, its refresh
	// token renews.
	var sep protocol.TrackKeyResponse
	if code := h.Do(t, http.MethodGet, fillPattern(protocol.PathTrackKey, tr.ID), s.AccessToken, nil, &sep); code != http.StatusOK || !bytes.Equal(sep.Key, got.Key.Key) {
		t.Fatalf("key with the session from start = %d %q; want 200 and %q", code, sep.Key, got.Key.Key)
	}
	var renewed protocol.Session
	if code := h.Do(t, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: s.RefreshToken}, &renewed); code != http.StatusOK || renewed.Account != "alice" {
		t.Fatalf("renew the session from start = %d %+v; want 200 for alice", code, renewed)
	}

	for name, c := range map[string]struct{ user, pw string }{
		"wrong password":  {"alice", wrong},
		"unknown account": {"mallory", trackertest.DefaultPassword},
	} {
		rec := wantStart(t, h, "192.0.2.2:5000", tr.ID, c.user, c.pw, http.StatusUnauthorized)
		var e protocol.Error
		if err := decodeBody(rec.Body, &e); err != nil || e.Code != protocol.CodeUnauthorized || strings.Contains(rec.Body.String(), "key") {
			t.Errorf("%s: body %q; want an unauthorized error and no key", name, rec.Body.String())
		}
	}
	// A track ID in canonical form that this tracker does not hold.
	other := trackertest.New(t).Ingest(t, writeWAV(t, t.TempDir(), "Other Band", "Elsewhere", 5, 0.5), &trackertest.MemSink{})
	wantStart(t, h, "192.0.2.3:5000", other.ID, "alice", trackertest.DefaultPassword, http.StatusNotFound)
	wantStart(t, h, "192.0.2.3:5000", other.ID, "alice", wrong, http.StatusUnauthorized)
	// Nor does a refresh token spend itself on an unknown track.
	if code := h.Do(t, http.MethodPost, fillPattern(protocol.PathStart, other.ID), "", protocol.StartRequest{RefreshToken: renewed.RefreshToken}, nil); code != http.StatusNotFound {
		t.Fatalf("start of an unknown track with a refresh token = %d; want 404", code)
	}
	if code := h.Do(t, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: renewed.RefreshToken}, &renewed); code != http.StatusOK {
		t.Fatalf("renew after a start of an unknown track = %d; want 200 (the token not spent)", code)
	}

	var e protocol.Error
	both := protocol.StartRequest{Username: "alice", Password: trackertest.DefaultPassword, RefreshToken: renewed.RefreshToken}
	if code := h.Do(t, http.MethodPost, fillPattern(protocol.PathStart, tr.ID), "", both, &e); code != http.StatusBadRequest {
		t.Errorf("start with a password and a refresh token = %d; want 400", code)
	}
	if code := h.Do(t, http.MethodPost, fillPattern(protocol.PathStart, tr.ID), "", protocol.StartRequest{Username: "alice"}, &e); code != http.StatusBadRequest {
		t.Errorf("start with a username and no password = %d; want 400", code)
	}
}

// TestStartLoginThrottled: a login through start is a login: its failures
// count against the same limits as PathLogin's (whichever route made
// them), a throttled one is refused with 429 and Retry-After even with the
// right password, and a success clears the pair's count.
func TestStartLoginThrottled(t *testing.T) {
	h, clk := fakeHarness(t)
	tr := h.Ingest(t, writeWAV(t, t.TempDir(), "Start Band", "Throttle Song", 3, 0.5), &trackertest.MemSink{})
	h.CreateUser(t, "alice", trackertest.DefaultPassword)
	const here = "192.0.2.1:5000"

	// Three failures through login and two through start: the pair's five.
	for range 3 {
		wantCode(t, h, here, "alice", wrong, nil, http.StatusUnauthorized)
	}
	for range 2 {
		wantStart(t, h, here, tr.ID, "alice", wrong, http.StatusUnauthorized)
	}
	rec := wantStart(t, h, here, tr.ID, "alice", trackertest.DefaultPassword, http.StatusTooManyRequests)
	if d := retryAfter(t, rec.Result()); d != time.Minute {
		t.Fatalf("Retry-After = %v; want 1m", d)
	}
	var e protocol.Error
	if err := decodeBody(rec.Body, &e); err != nil || e.Code != protocol.CodeRateLimited || strings.Contains(rec.Body.String(), "key") {
		t.Fatalf("throttled start body %q; want rate_limited and no key", rec.Body.String())
	}
	wantCode(t, h, here, "alice", trackertest.DefaultPassword, nil, http.StatusTooManyRequests)
	// Elsewhere alice starts at once.
	wantStart(t, h, "192.0.2.9:5000", tr.ID, "alice", trackertest.DefaultPassword, http.StatusOK)

	// After Retry-After one more try; a correct one through start clears
	// the count, so five failures again before the next refusal.
	clk.Advance(time.Minute)
	wantStart(t, h, here, tr.ID, "alice", trackertest.DefaultPassword, http.StatusOK)
	for range 5 {
		wantStart(t, h, here, tr.ID, "alice", wrong, http.StatusUnauthorized)
	}
	wantCode(t, h, here, "alice", trackertest.DefaultPassword, nil, http.StatusTooManyRequests)

	// Unknown accounts count too: five guesses at one from one network.
	for range 5 {
		wantStart(t, h, "192.0.2.5:5000", tr.ID, "nobody", wrong, http.StatusUnauthorized)
	}
	wantStart(t, h, "192.0.2.5:5000", tr.ID, "nobody", wrong, http.StatusTooManyRequests)
}

// TestStartLoginAttemptRate: logins through start take from the same
// per-network attempt rate as PathLogin, right or wrong.
func TestStartLoginAttemptRate(t *testing.T) {
	h, clk := fakeHarness(t, func(o *tracker.Options) {
		o.LoginPolicy = tracker.LoginPolicy{AttemptRate: 1, AttemptBurst: 3}
	})
	tr := h.Ingest(t, writeWAV(t, t.TempDir(), "Start Band", "Rate Song", 4, 0.5), &trackertest.MemSink{})
	h.CreateUser(t, "alice", trackertest.DefaultPassword)
	wantCode(t, h, "192.0.2.1:5000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
	for range 2 {
		wantStart(t, h, "192.0.2.1:5000", tr.ID, "alice", trackertest.DefaultPassword, http.StatusOK)
	}
	rec := wantStart(t, h, "192.0.2.1:5000", tr.ID, "alice", trackertest.DefaultPassword, http.StatusTooManyRequests)
	if d := retryAfter(t, rec.Result()); d != time.Second {
		t.Fatalf("Retry-After = %v; want 1s", d)
	}
	wantStart(t, h, "192.0.2.2:5000", tr.ID, "alice", trackertest.DefaultPassword, http.StatusOK)
	clk.Advance(time.Second)
	wantStart(t, h, "192.0.2.1:5000", tr.ID, "alice", trackertest.DefaultPassword, http.StatusOK)
}

// TestStartNetwork: asked to, a start carries the network list as GET
// /v1/network gives it; not asked, it carries none.
func TestStartNetwork(t *testing.T) {
	h, _ := fakeHarness(t, func(o *tracker.Options) { o.Origins = []string{"https://origin.example:4433"} })
	tr := h.Ingest(t, writeWAV(t, t.TempDir(), "Start Band", "Network Song", 6, 0.5), &trackertest.MemSink{})
	sess := h.User(t, "alice")
	path := fillPattern(protocol.PathStart, tr.ID)
	var want protocol.NetworkInfo
	if code := h.Do(t, http.MethodGet, protocol.PathNetwork, sess.AccessToken, nil, &want); code != http.StatusOK {
		t.Fatalf("GET %s = %d", protocol.PathNetwork, code)
	}
	var got protocol.StartResponse
	if code := h.Do(t, http.MethodPost, path, sess.AccessToken, protocol.StartRequest{Network: true}, &got); code != http.StatusOK {
		t.Fatalf("start with network = %d; want 200", code)
	}
	if got.Network == nil || !slices.Equal(got.Network.Origins, want.Origins) || len(want.Origins) != 1 || !slices.Equal(got.Network.Bootstrap, want.Bootstrap) {
		t.Errorf("start's network = %+v; want %+v", got.Network, want)
	}
	got = protocol.StartResponse{}
	if code := h.Do(t, http.MethodPost, path, sess.AccessToken, protocol.StartRequest{}, &got); code != http.StatusOK || got.Network != nil {
		t.Errorf("start without network = %d, network %+v; want 200 and none", code, got.Network)
	}
	// A login through start can ask for it too.
	h.CreateUser(t, "bob", trackertest.DefaultPassword)
	got = protocol.StartResponse{}
	if code := h.Do(t, http.MethodPost, path, "", protocol.StartRequest{Username: "bob", Password: trackertest.DefaultPassword, Network: true}, &got); code != http.StatusOK || got.Session == nil || got.Network == nil {
		t.Errorf("login start with network = %d, session %v, network %+v; want 200, both", code, got.Session != nil, got.Network)
	}
}
