package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/store/postgres"
	"github.com/chorus-music/chorus/tracker/store/postgres/pgtest"
)

// call sends one API request and decodes a JSON answer into out.
func call(t *testing.T, base, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// TestTwoTrackersOnePostgres runs two `chorus tracker` processes on one
// PostgreSQL database and alternates every request of a whole session
// between them: login, renew, key rotation, ticket, track key, logout.
// The refresh token renews once, not once per tracker; a key rotated
// through one is used by the other; the Nth failed login is refused by
// whichever tracker answers.
func TestTwoTrackersOnePostgres(t *testing.T) {
	bin := buildChorus(t)
	url := pgtest.New(t)
	data := t.TempDir()
	run := func(stdin string, args ...string) string {
		t.Helper()
		return mustRunEnv(t, bin, dataEnv(data, "CHORUS_STORE="+url), stdin, args...)
	}
	const pw = "s3cret-passw0rd"
	run(pw+"\n", "user", "add", "alice")
	out := run("", "ingest", "--quiet", filepath.Join("..", "..", "catalog", "testdata", "flac.flac"))
	trackID := strings.Fields(out)[0]

	trA, a := startTrackerProc(t, bin, nil, "--listen", "127.0.0.1:0", "--store", url, "--data", t.TempDir(), "--key-refresh", "1ms")
	trB, b := startTrackerProc(t, bin, nil, "--listen", "127.0.0.1:0", "--store", url, "--data", t.TempDir(), "--key-refresh", "1ms")

	// Login on A; pin the keys from B: the same set.
	var sess protocol.Session
	if code := call(t, a, http.MethodPost, protocol.PathLogin, "", protocol.LoginRequest{Username: "alice", Password: pw}, &sess); code != http.StatusOK {
		t.Fatalf("login on A = %d", code)
	}
	var keysA, keysB protocol.SigningKeys
	call(t, b, http.MethodGet, protocol.PathKeys, "", nil, &keysB)
	call(t, a, http.MethodGet, protocol.PathKeys, "", nil, &keysA)
	if len(keysB.Keys) != 1 || keysA.Keys[0].KeyID != keysB.Keys[0].KeyID {
		t.Fatalf("keys on A %+v and B %+v; want one and the same key", keysA, keysB)
	}
	pinned := map[string]ed25519.PublicKey{keysB.Keys[0].KeyID: keysB.Keys[0].PublicKey}

	// Renew on B; the old refresh token then fails on A: renewed once.
	var renewed protocol.Session
	if code := call(t, b, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: sess.RefreshToken}, &renewed); code != http.StatusOK {
		t.Fatalf("renew on B = %d", code)
	}
	if code := call(t, a, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: sess.RefreshToken}, nil); code != http.StatusUnauthorized {
		t.Fatalf("renew of the used refresh token on A = %d; want 401", code)
	}
	if code := call(t, a, http.MethodGet, protocol.PathTracks, sess.AccessToken, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("old access token on A after renew on B = %d; want 401", code)
	}
	if code := call(t, a, http.MethodGet, strings.ReplaceAll(protocol.PathTrackKey, "{id}", trackID), sess.AccessToken, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("track key for the old access token on A after renew on B = %d; want 401", code)
	}

	// Rotate the signing key (the operator command, on the same store);
	// A publishes the new key, endorsed by the pinned one.
	rot := run("", "keys", "rotate")
	newKey := strings.TrimSuffix(strings.Fields(rot)[3], ";")
	if code := call(t, a, http.MethodGet, protocol.PathKeys, "", nil, &keysA); code != http.StatusOK || len(keysA.Keys) != 2 || keysA.Keys[1].KeyID != newKey {
		t.Fatalf("keys on A after rotation = %d %+v; want 2 ending in %s", code, keysA, newKey)
	}
	trusted, err := tracker.VerifyKeyChain(keysA, pinned)
	if err != nil || len(trusted) != 2 {
		t.Fatalf("VerifyKeyChain = %v, %v; want the rotated key endorsed", trusted, err)
	}

	// A ticket from B is signed by the new key.
	peerID := newTestPeerID(t)
	var tk protocol.Ticket
	if code := call(t, b, http.MethodPost, protocol.PathTicket, renewed.AccessToken, protocol.TicketRequest{PeerID: peerID}, &tk); code != http.StatusOK {
		t.Fatalf("ticket on B = %d", code)
	}
	if tk.KeyID != newKey {
		t.Fatalf("ticket from B signed by %s; want the rotated-in key %s", tk.KeyID, newKey)
	}
	if err := tk.Verify(trusted, peerID, time.Now()); err != nil {
		t.Fatalf("ticket.Verify = %v", err)
	}

	// Track key from A, manifest from B: the key decrypts what B's manifest
	// names, signed by the retired key, still trusted.
	var kr protocol.TrackKeyResponse
	if code := call(t, a, http.MethodGet, strings.ReplaceAll(protocol.PathTrackKey, "{id}", trackID), renewed.AccessToken, nil, &kr); code != http.StatusOK {
		t.Fatalf("track key on A = %d", code)
	}
	var sm protocol.SignedManifest
	if code := call(t, b, http.MethodGet, strings.ReplaceAll(protocol.PathManifest, "{id}", trackID), renewed.AccessToken, nil, &sm); code != http.StatusOK {
		t.Fatalf("manifest on B = %d", code)
	}
	if _, err := catalog.VerifyManifest(trackID, sm.Manifest, sm.KeyID, sm.Signature, trusted); err != nil {
		t.Fatalf("VerifyManifest = %v", err)
	}
	if _, err := catalog.ParseTrackKey(kr.Key); err != nil {
		t.Fatalf("track key from A: %v", err)
	}

	// Logout on B ends the session on A too.
	if code := call(t, b, http.MethodPost, protocol.PathLogout, renewed.AccessToken, struct{}{}, nil); code != http.StatusNoContent {
		t.Fatalf("logout on B = %d", code)
	}
	if code := call(t, a, http.MethodGet, protocol.PathTracks, renewed.AccessToken, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("token on A after logout on B = %d; want 401", code)
	}
	// The key route checks its session in its own (batched) store call.
	if code := call(t, a, http.MethodGet, strings.ReplaceAll(protocol.PathTrackKey, "{id}", trackID), renewed.AccessToken, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("track key on A after logout on B = %d; want 401", code)
	}
	if code := call(t, a, http.MethodPost, protocol.PathRenew, "", protocol.RenewRequest{RefreshToken: renewed.RefreshToken}, nil); code != http.StatusUnauthorized {
		t.Fatalf("refresh token on A after logout on B = %d; want 401", code)
	}

	// Failed logins alternate between the trackers; after the 5th (the
	// pair limit), both refuse, even the right password.
	for i := range 5 {
		base := []string{a, b}[i%2]
		if code := call(t, base, http.MethodPost, protocol.PathLogin, "", protocol.LoginRequest{Username: "alice", Password: "wrong password"}, nil); code != http.StatusUnauthorized {
			t.Fatalf("failed login %d = %d; want 401", i+1, code)
		}
	}
	for name, base := range map[string]string{"A": a, "B": b} {
		if code := call(t, base, http.MethodPost, protocol.PathLogin, "", protocol.LoginRequest{Username: "alice", Password: pw}, nil); code != http.StatusTooManyRequests {
			t.Fatalf("login on %s after 5 failures across both = %d; want 429", name, code)
		}
	}

	// Both stop cleanly; the audit holds the one key request.
	trA.stop() // SIGINT: a clean exit, status 0
	trB.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if audit, err := st.KeyRequests(ctx, "alice", 10); err != nil || len(audit) != 1 || audit[0].TrackID != trackID {
		t.Fatalf("audit = %+v, %v; want one key request for %s", audit, err, trackID)
	}
}

func newTestPeerID(t *testing.T) string {
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

// TestMigrateThenServe: an operator's SQLite tracker is copied into
// PostgreSQL with `chorus migrate`, and a tracker on the copy serves the
// same account, catalog and keys.
func TestMigrateThenServe(t *testing.T) {
	bin := buildChorus(t)
	data := t.TempDir()
	run := func(stdin string, args ...string) (string, error) {
		out, errOut, err := chorusRun(t, bin, data, stdin, args...)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, errOut)
		}
		return out, err
	}
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	must(run("s3cret-passw0rd\n", "user", "add", "carol"))
	out := must(run("", "ingest", "--quiet", filepath.Join("..", "..", "catalog", "testdata")))
	keys := must(run("", "keys", "list"))
	url := pgtest.New(t)
	rep := must(run("", "migrate", "--to", url))
	for _, want := range []string{"accounts", "1 rows", "tracks", "verified every table"} {
		if !strings.Contains(rep, want) {
			t.Fatalf("migrate report lacks %q:\n%s", want, rep)
		}
	}
	if got := must(run("", "keys", "list", "--store", url)); got != keys {
		t.Fatalf("keys on the copy:\n%s\nwant:\n%s", got, keys)
	}
	// Migrating again would write over what is there: refused.
	if _, err := run("", "migrate", "--to", url); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("second migrate = %v; want a not-empty refusal", err)
	}
	_, base := startTrackerProc(t, bin, nil, "--listen", "127.0.0.1:0", "--store", url, "--data", t.TempDir())
	var sess protocol.Session
	if code := call(t, base, http.MethodPost, protocol.PathLogin, "", protocol.LoginRequest{Username: "carol", Password: "s3cret-passw0rd"}, &sess); code != http.StatusOK {
		t.Fatalf("login on the migrated store = %d", code)
	}
	var list protocol.TrackList
	if code := call(t, base, http.MethodGet, protocol.PathTracks, sess.AccessToken, nil, &list); code != http.StatusOK || list.Total != strings.Count(out, "added") {
		t.Fatalf("tracks on the migrated store = %d, %d; want %d", code, list.Total, strings.Count(out, "added"))
	}
	// The process's metrics: Go and process collectors, latency by route.
	resp, err := http.Get(base + protocol.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"go_goroutines ", "process_resident_memory_bytes ",
		`chorus_tracker_request_duration_seconds_count{method="POST",route="/v1/login"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("tracker /metrics lacks %q", want)
		}
	}
	if v := must(run("", "version")); !strings.HasPrefix(v, "chorus ") || !strings.Contains(v, "go1.") {
		t.Fatalf("chorus version = %q", v)
	}
}
