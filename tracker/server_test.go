package tracker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

func newPeerID(t testing.TB) string {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func TestRoutesTableMatchesProtocol(t *testing.T) {
	h := trackertest.New(t)
	public := map[string]bool{}
	for _, rt := range h.Server.Routes() {
		public[rt.Pattern] = rt.Public
	}
	want := map[string]bool{
		protocol.PathLogin: true, protocol.PathRenew: true, protocol.PathKeys: true, protocol.PathHealth: true, protocol.PathMetrics: true, protocol.PathStart: true,
		protocol.PathLogout: false, protocol.PathTracks: false, protocol.PathSearch: false, protocol.PathManifest: false,
		protocol.PathTrackKey: false, protocol.PathNetwork: false, protocol.PathTicket: false, protocol.PathAnnounce: false,
	}
	for p, pub := range want {
		got, ok := public[p]
		if !ok || got != pub {
			t.Errorf("route %s: registered %v, public %v; want registered, public %v", p, ok, got, pub)
		}
	}
	if len(public) != len(want) {
		t.Errorf("Routes() has %d routes; want %d", len(public), len(want))
	}
}

// TestNonPublicRoutesNeedSession walks the route table: every route that
// is not public answers 401 unauthorized with no token, a garbage token, a
// well-formed unknown token, and an expired token.
func TestNonPublicRoutesNeedSession(t *testing.T) {
	h, clk := fakeHarness(t)
	sink := &trackertest.MemSink{}
	tr := h.Ingest(t, writeWAV(t, t.TempDir(), "Auth Band", "Locked Song", 1, 0.5), sink)
	sess := h.User(t, "alice")
	peerID := newPeerID(t)

	// A fresh session works on every route (sanity check that 401s below are
	// about the token), except logout, which would end it.
	for _, rt := range h.Server.Routes() {
		if rt.Public || rt.Pattern == protocol.PathLogout {
			continue
		}
		path := fillPattern(rt.Pattern, tr.ID)
		if rt.Pattern == protocol.PathSearch {
			path += "?q=locked"
		}
		if rt.Pattern == protocol.PathAnnounce {
			if code := h.Do(t, http.MethodPost, protocol.PathTicket, sess.AccessToken, protocol.TicketRequest{PeerID: peerID}, nil); code != http.StatusOK {
				t.Fatalf("POST ticket = %d; want 200", code)
			}
		}
		if code := h.Do(t, rt.Method, path, sess.AccessToken, bodyFor(rt, peerID), nil); code/100 != 2 {
			t.Errorf("%s %s with a valid token = %d; want 2xx", rt.Method, path, code)
		}
	}

	clk.Advance(15*time.Minute + time.Second) // past the default AccessTTL
	tokens := map[string]string{
		"none":      "",
		"garbage":   "not a token",
		"unknown":   strings.Repeat("A", 43),
		"expired":   sess.AccessToken,
		"refresh":   sess.RefreshToken,
		"overlong":  strings.Repeat("A", 5000),
		"bad bytes": "\x00\xff" + strings.Repeat("A", 41),
	}
	n := 0
	for _, rt := range h.Server.Routes() {
		if rt.Public {
			continue
		}
		n++
		path := fillPattern(rt.Pattern, tr.ID)
		for name, tok := range tokens {
			var perr protocol.Error
			req := httptest.NewRequest(rt.Method, path, nil)
			if body := bodyFor(rt, peerID); body != nil {
				req = httptest.NewRequest(rt.Method, path, strings.NewReader(`{}`))
			}
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			rec := httptest.NewRecorder()
			h.Server.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s %s with %s token = %d; want 401", rt.Method, path, name, rec.Code)
				continue
			}
			if err := decodeBody(rec.Body, &perr); err != nil || perr.Code != protocol.CodeUnauthorized {
				t.Errorf("%s %s with %s token: body %+v, %v; want code %q", rt.Method, path, name, perr, err, protocol.CodeUnauthorized)
			}
		}
	}
	if n < 8 {
		t.Fatalf("only %d non-public routes; route table incomplete?", n)
	}
}

func TestPublicRoutes(t *testing.T) {
	h := trackertest.New(t)
	for _, p := range []string{protocol.PathKeys, protocol.PathHealth, protocol.PathMetrics} {
		if code := h.Do(t, http.MethodGet, p, "", nil, nil); code != http.StatusOK {
			t.Errorf("GET %s = %d; want 200", p, code)
		}
	}
	var perr protocol.Error
	if code := h.Do(t, http.MethodGet, "/v1/nope", "", nil, &perr); code != http.StatusNotFound || perr.Code != protocol.CodeNotFound {
		t.Errorf("GET /v1/nope = %d %+v; want 404 not_found", code, perr)
	}
}

func TestTrackKeyAndTicketNeedSession(t *testing.T) {
	h := trackertest.New(t)
	sink := &trackertest.MemSink{}
	tr := h.Ingest(t, writeWAV(t, t.TempDir(), "Key Band", "Secret", 2, 0.5), sink)
	peerID := newPeerID(t)
	keyPath := fillPattern(protocol.PathTrackKey, tr.ID)

	var kr protocol.TrackKeyResponse
	if code := h.Do(t, http.MethodGet, keyPath, "", nil, &kr); code != http.StatusUnauthorized || kr.Key != nil {
		t.Fatalf("GET key without session = %d, key %x; want 401, no key", code, kr.Key)
	}
	var tk protocol.Ticket
	if code := h.Do(t, http.MethodPost, protocol.PathTicket, "", protocol.TicketRequest{PeerID: peerID}, &tk); code != http.StatusUnauthorized || tk.Signature != nil {
		t.Fatalf("POST ticket without session = %d; want 401, no ticket", code)
	}
	if got, err := h.Store.KeyRequests(context.Background(), "", 10); err != nil || len(got) != 0 {
		t.Fatalf("audit log after refused requests = %v, %v; want empty", got, err)
	}

	sess := h.User(t, "alice")
	if code := h.Do(t, http.MethodGet, keyPath, sess.AccessToken, nil, &kr); code != http.StatusOK {
		t.Fatalf("GET key with session = %d; want 200", code)
	}
	want, err := h.Store.TrackKey(context.Background(), tr.ID)
	if err != nil || !bytes.Equal(kr.Key, want) || kr.TrackID != tr.ID {
		t.Fatalf("GET key = %+v; want the stored key for %s", kr, tr.ID)
	}
	// The key decrypts the track's first chunk.
	key, err := catalog.ParseTrackKey(kr.Key)
	if err != nil {
		t.Fatal(err)
	}
	var sm protocol.SignedManifest
	if code := h.Do(t, http.MethodGet, fillPattern(protocol.PathManifest, tr.ID), sess.AccessToken, nil, &sm); code != http.StatusOK {
		t.Fatalf("GET manifest = %d", code)
	}
	m, err := catalog.VerifyManifest(tr.ID, sm.Manifest, sm.KeyID, sm.Signature, pinnedKeys(h.Keys(t)))
	if err != nil {
		t.Fatalf("VerifyManifest = %v", err)
	}
	ct, ok := sink.Get(m.Chunks[0].CID)
	if !ok {
		t.Fatal("first chunk not in sink")
	}
	pt, err := catalog.DecryptChunk(m, key, 0, ct)
	if err != nil || !bytes.HasPrefix(pt, []byte("RIFF")) {
		t.Fatalf("DecryptChunk = %.8q, %v; want a RIFF header", pt, err)
	}
	audit, err := h.Store.KeyRequests(context.Background(), "alice", 10)
	if err != nil || len(audit) != 1 || audit[0].TrackID != tr.ID || !strings.HasPrefix(audit[0].RemoteAddr, "127.0.0.1:") {
		t.Fatalf("audit log = %+v, %v; want one entry for %s from 127.0.0.1", audit, err, tr.ID)
	}

	if code := h.Do(t, http.MethodPost, protocol.PathTicket, sess.AccessToken, protocol.TicketRequest{PeerID: peerID}, &tk); code != http.StatusOK {
		t.Fatalf("POST ticket with session = %d; want 200", code)
	}
	keys := pinnedKeys(h.Keys(t))
	if err := tk.Verify(keys, peerID, time.Now()); err != nil {
		t.Fatalf("ticket.Verify = %v; want nil", err)
	}
	if tk.Account != "alice" || tk.ExpiresAt-tk.IssuedAt != int64(time.Hour/time.Second) {
		t.Errorf("ticket = %+v; want account alice, 1h validity", tk.TicketBody)
	}
	if err := tk.Verify(keys, newPeerID(t), time.Now()); !errors.Is(err, protocol.ErrTicketPeer) {
		t.Errorf("ticket.Verify(other peer) = %v; want ErrTicketPeer", err)
	}
	if err := tk.Verify(keys, peerID, time.Now().Add(2*time.Hour)); !errors.Is(err, protocol.ErrTicketExpired) {
		t.Errorf("ticket.Verify(2h later) = %v; want ErrTicketExpired", err)
	}
}

func TestTicketBadPeerID(t *testing.T) {
	h := trackertest.New(t)
	sess := h.User(t, "alice")
	good := newPeerID(t)
	for _, id := range []string{"", "x", "Qm", good + "x", strings.ToLower(good), "bafkreigh2akiscaildc"} {
		var perr protocol.Error
		if code := h.Do(t, http.MethodPost, protocol.PathTicket, sess.AccessToken, protocol.TicketRequest{PeerID: id}, &perr); code != http.StatusBadRequest || perr.Code != protocol.CodeBadRequest {
			t.Errorf("POST ticket {peer_id: %q} = %d %+v; want 400 bad_request", id, code, perr)
		}
	}
}

func TestRenewRotatesAndLogoutRevokes(t *testing.T) {
	h, clk := fakeHarness(t)
	s1 := h.User(t, "alice")
	clk.Advance(time.Minute)
	var s2 protocol.Session
	if code := h.Do(t, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: s1.RefreshToken}, &s2); code != http.StatusOK {
		t.Fatalf("renew = %d; want 200", code)
	}
	if s2.RefreshToken == s1.RefreshToken || s2.AccessToken == s1.AccessToken || s2.Account != "alice" {
		t.Fatalf("renew returned %+v; want new tokens for alice", s2)
	}
	if !s2.AccessExpiresAt.Equal(epoch.Add(time.Minute + 15*time.Minute)) {
		t.Errorf("renewed AccessExpiresAt = %v; want %v", s2.AccessExpiresAt, epoch.Add(16*time.Minute))
	}
	var perr protocol.Error
	if code := h.Do(t, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: s1.RefreshToken}, &perr); code != http.StatusUnauthorized || perr.Code != protocol.CodeUnauthorized {
		t.Fatalf("renew with the old refresh token = %d %+v; want 401 unauthorized", code, perr)
	}
	if code := h.Do(t, http.MethodGet, protocol.PathTracks, s1.AccessToken, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("old access token after renew = %d; want 401", code)
	}
	if code := h.Do(t, http.MethodGet, protocol.PathTracks, s2.AccessToken, nil, nil); code != http.StatusOK {
		t.Fatalf("new access token = %d; want 200", code)
	}

	// The refresh token expires after RefreshTTL.
	clk.Advance(30*24*time.Hour + time.Minute)
	if code := h.Do(t, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: s2.RefreshToken}, nil); code != http.StatusUnauthorized {
		t.Fatalf("renew after RefreshTTL = %d; want 401", code)
	}

	s3 := h.Login(t, "alice", trackertest.DefaultPassword)
	if code := h.Do(t, http.MethodPost, protocol.PathLogout, s3.AccessToken, nil, nil); code != http.StatusNoContent {
		t.Fatalf("logout = %d; want 204", code)
	}
	if code := h.Do(t, http.MethodGet, protocol.PathTracks, s3.AccessToken, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("access token after logout = %d; want 401", code)
	}
	if code := h.Do(t, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: s3.RefreshToken}, nil); code != http.StatusUnauthorized {
		t.Fatalf("refresh token after logout = %d; want 401", code)
	}
	if code := h.Do(t, http.MethodPost, protocol.PathLogout, s3.AccessToken, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("second logout = %d; want 401", code)
	}
}

func TestLoginWrongPasswordAndUnknownUser(t *testing.T) {
	h := trackertest.New(t)
	h.CreateUser(t, "alice", trackertest.DefaultPassword)
	for _, req := range []protocol.LoginRequest{
		{Username: "alice", Password: "wrong password"},
		{Username: "bob", Password: trackertest.DefaultPassword},
		{Username: "ALICE", Password: trackertest.DefaultPassword},
	} {
		var perr protocol.Error
		if code := h.Do(t, http.MethodPost, protocol.PathLogin, "", req, &perr); code != http.StatusUnauthorized || perr.Code != protocol.CodeUnauthorized {
			t.Errorf("login %q = %d %+v; want 401 unauthorized", req.Username, code, perr)
		}
	}
}

func TestCreateAccountValidates(t *testing.T) {
	h := trackertest.New(t)
	ctx := context.Background()
	tests := []struct {
		name, pw string
		want     error
	}{
		{"alice", "long enough pw", nil},
		{"alice", "long enough pw", store.ErrExists},
		{"", "long enough pw", tracker.ErrAccountName},
		{strings.Repeat("a", protocol.MaxUsernameLen+1), "long enough pw", tracker.ErrAccountName},
		{strings.Repeat("a", protocol.MaxUsernameLen), "long enough pw", nil},
		{"-bob", "long enough pw", tracker.ErrAccountName},
		{"bob smith", "long enough pw", tracker.ErrAccountName},
		{"bøb", "long enough pw", tracker.ErrAccountName},
		{"bob.s-m_1", "long enough pw", nil},
		{"carol", "short", tracker.ErrPassword},
		{"carol", strings.Repeat("p", protocol.MaxPasswordLen+1), tracker.ErrPassword},
		{"carol", strings.Repeat("p", protocol.MaxPasswordLen), nil},
	}
	for _, tc := range tests {
		err := h.Server.CreateAccount(ctx, tc.name, tc.pw)
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("CreateAccount(%.20q, %d-byte password) = %v; want %v", tc.name, len(tc.pw), err, tc.want)
		}
	}
}

// login sends a login through the handler with a chosen remote address.
func login(h *trackertest.Harness, remote, user, pw string, header http.Header) *httptest.ResponseRecorder {
	body := `{"username":` + strconv.Quote(user) + `,"password":` + strconv.Quote(pw) + `}`
	req := httptest.NewRequest(http.MethodPost, protocol.PathLogin, strings.NewReader(body))
	req.RemoteAddr = remote
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.Server.ServeHTTP(rec, req)
	return rec
}

func decodeBody(r io.Reader, v any) error {
	return json.NewDecoder(r).Decode(v)
}
