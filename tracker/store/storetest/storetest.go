package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chorus-music/chorus/tracker/store"
)

// Run runs the shared suite. open returns a new, empty store for each
// subtest; Run closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"Sessions", testSessions},
		{"RotateSessionRace", testRotateSessionRace},
		{"GrantKeys", testGrantKeys},
		{"Tracks", testTracks},
		{"PutTrackAtomic", testPutTrackAtomic},
		{"ConcurrentReadWrite", testConcurrentReadWrite},
		{"ListPaging", testListPaging},
		{"Search", testSearch},
		{"SearchOddInput", testSearchOddInput},
		{"SearchInsertionOrder", testSearchInsertionOrder},
		{"SigningKeys", testSigningKeys},
		{"RotateSigningKeyRace", testRotateSigningKeyRace},
		{"KeyRequests", testKeyRequests},
		{"Tickets", testTickets},
		{"Announcements", testAnnouncements},
		{"Throttle", testThrottle},
		{"ThrottleConcurrent", testThrottleConcurrent},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.f(t, s)
		})
	}
}

// t0 is the suite's reference time; backends must round-trip it exactly
// (nanosecond precision is not required beyond microseconds).
var t0 = time.Date(2026, 11, 22, 9, 0, 0, 123456000, time.UTC)

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func mustAccount(t *testing.T, s store.Store, name string) {
	t.Helper()
	if err := s.CreateAccount(context.Background(), store.Account{Name: name, PasswordHash: "$argon2id$x", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateAccount(%q) = %v; want nil", name, err)
	}
}

func testAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := store.Account{Name: "alice", PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", CreatedAt: t0}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatalf("CreateAccount(alice) = %v; want nil", err)
	}
	if err := s.CreateAccount(ctx, a); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateAccount(alice) again = %v; want ErrExists", err)
	}
	got, err := s.Account(ctx, "alice")
	if err != nil || got.Name != a.Name || got.PasswordHash != a.PasswordHash || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("Account(alice) = %+v, %v; want %+v", got, err, a)
	}
	if _, err := s.Account(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Account(bob) = %v; want ErrNotFound", err)
	}
	if _, err := s.Account(ctx, "ALICE"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Account(ALICE) = %v; want ErrNotFound (names are exact)", err)
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "alice")
	se := store.Session{
		Account: "alice", AccessHash: hash("a1"), AccessExpiresAt: t0.Add(15 * time.Minute),
		RefreshHash: hash("r1"), RefreshExpiresAt: t0.Add(720 * time.Hour), CreatedAt: t0,
	}
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatalf("CreateSession = %v; want nil", err)
	}
	if err := s.CreateSession(ctx, se); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateSession again = %v; want ErrExists", err)
	}
	got, err := s.SessionByAccess(ctx, hash("a1"))
	if err != nil || got.Account != "alice" || !got.AccessExpiresAt.Equal(se.AccessExpiresAt) ||
		!got.RefreshExpiresAt.Equal(se.RefreshExpiresAt) || !bytes.Equal(got.RefreshHash, se.RefreshHash) {
		t.Fatalf("SessionByAccess = %+v, %v; want %+v", got, err, se)
	}
	if got, err := s.SessionByRefresh(ctx, hash("r1")); err != nil || !bytes.Equal(got.AccessHash, se.AccessHash) {
		t.Fatalf("SessionByRefresh = %+v, %v; want the session", got, err)
	}
	if _, err := s.SessionByAccess(ctx, hash("r1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SessionByAccess(refresh hash) = %v; want ErrNotFound", err)
	}
	if _, err := s.SessionByAccess(ctx, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SessionByAccess(nil) = %v; want ErrNotFound", err)
	}

	next := store.Session{AccessHash: hash("a2"), AccessExpiresAt: t0.Add(time.Hour), RefreshHash: hash("r2"), RefreshExpiresAt: t0.Add(800 * time.Hour)}
	if err := s.RotateSession(ctx, hash("r1"), next); err != nil {
		t.Fatalf("RotateSession = %v; want nil", err)
	}
	if err := s.RotateSession(ctx, hash("r1"), next); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RotateSession(old refresh) again = %v; want ErrNotFound", err)
	}
	for _, h := range []string{"a1"} {
		if _, err := s.SessionByAccess(ctx, hash(h)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SessionByAccess(%s) after rotate = %v; want ErrNotFound", h, err)
		}
	}
	if _, err := s.SessionByRefresh(ctx, hash("r1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SessionByRefresh(r1) after rotate = %v; want ErrNotFound", err)
	}
	got, err = s.SessionByRefresh(ctx, hash("r2"))
	if err != nil || got.Account != "alice" || !got.RefreshExpiresAt.Equal(next.RefreshExpiresAt) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("SessionByRefresh(r2) = %+v, %v; want rotated session of alice", got, err)
	}

	// A second session; expiry sweep removes only the expired one.
	other := store.Session{Account: "alice", AccessHash: hash("a3"), AccessExpiresAt: t0, RefreshHash: hash("r3"), RefreshExpiresAt: t0.Add(time.Minute), CreatedAt: t0}
	if err := s.CreateSession(ctx, other); err != nil {
		t.Fatalf("CreateSession(other) = %v", err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 1, nil", n, err)
	}
	if _, err := s.SessionByAccess(ctx, hash("a3")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session still there: %v", err)
	}
	if err := s.DeleteSession(ctx, hash("a2")); err != nil {
		t.Fatalf("DeleteSession = %v; want nil", err)
	}
	if err := s.DeleteSession(ctx, hash("a2")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteSession again = %v; want ErrNotFound", err)
	}
	if _, err := s.SessionByRefresh(ctx, hash("r2")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SessionByRefresh after delete = %v; want ErrNotFound", err)
	}
}

// testGrantKeys: a batch of key requests is judged request by request
// (unknown, expired, no such track, granted), only the granted ones are
// audited, in order, and a rotated or deleted session is refused at once.
func testGrantKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "alice")
	mustAccount(t, s, "bob")
	mustKey(t, s, "k1")
	tr := testTrack(1, "Light", "Band", "Album")
	key := hash("key1")
	if err := s.PutTrack(ctx, tr, key); err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(15 * time.Minute)
	for _, se := range []store.Session{
		{Account: "alice", AccessHash: hash("a1"), AccessExpiresAt: exp, RefreshHash: hash("r1"), RefreshExpiresAt: t0.Add(time.Hour), CreatedAt: t0},
		{Account: "bob", AccessHash: hash("b1"), AccessExpiresAt: t0, RefreshHash: hash("rb"), RefreshExpiresAt: t0.Add(time.Hour), CreatedAt: t0},
	} {
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.GrantKeys(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("GrantKeys(nil) = %v, %v; want nothing", got, err)
	}
	g := func(h []byte, track string, at time.Time, remote string) store.KeyGrant {
		return store.KeyGrant{AccessHash: h, TrackID: track, At: at, RemoteAddr: remote}
	}
	alice := store.KeyGrantResult{Found: true, Account: "alice", AccessExpiresAt: exp}
	bob := store.KeyGrantResult{Found: true, Account: "bob", AccessExpiresAt: t0}
	granted := alice
	granted.Granted, granted.Key = true, key
	cases := []struct {
		g    store.KeyGrant
		want store.KeyGrantResult
	}{
		{g(hash("a1"), tr.ID, t0, "10.0.0.1:1"), granted},
		{g(hash("a1"), "nope", t0, "10.0.0.1:2"), alice},                 // no such track
		{g(hash("zz"), tr.ID, t0, "10.0.0.1:3"), store.KeyGrantResult{}}, // no such session
		{g(hash("r1"), tr.ID, t0, "10.0.0.1:4"), store.KeyGrantResult{}}, // a refresh hash is no access token
		{g(nil, tr.ID, t0, "10.0.0.1:5"), store.KeyGrantResult{}},
		{g(hash("b1"), tr.ID, t0, "10.0.0.1:6"), bob}, // expired at its At
		{g(hash("a1"), tr.ID, exp.Add(-time.Microsecond), "10.0.0.1:7"), granted},
		{g(hash("a1"), tr.ID, exp, "10.0.0.1:8"), alice}, // expired at its At
	}
	batch := make([]store.KeyGrant, len(cases))
	for i, c := range cases {
		batch[i] = c.g
	}
	got, err := s.GrantKeys(ctx, batch)
	if err != nil || len(got) != len(cases) {
		t.Fatalf("GrantKeys = %d results, %v; want %d", len(got), err, len(cases))
	}
	for i, c := range cases {
		r := got[i]
		if r.Granted != c.want.Granted || r.Found != c.want.Found || r.Account != c.want.Account ||
			!r.AccessExpiresAt.Equal(c.want.AccessExpiresAt) || !bytes.Equal(r.Key, c.want.Key) || (r.Key == nil) != (c.want.Key == nil) {
			t.Errorf("GrantKeys[%d] (%x, %s, %v) = %+v; want %+v", i, c.g.AccessHash, c.g.TrackID, c.g.At, r, c.want)
		}
	}
	audit, err := s.KeyRequests(ctx, "", 10)
	if err != nil || len(audit) != 2 || audit[0].RemoteAddr != "10.0.0.1:7" || audit[1].RemoteAddr != "10.0.0.1:1" ||
		audit[1].Account != "alice" || audit[1].TrackID != tr.ID || !audit[1].At.Equal(t0) {
		t.Fatalf("audit after GrantKeys = %+v, %v; want the two granted requests, newest first", audit, err)
	}

	next := store.Session{AccessHash: hash("a2"), AccessExpiresAt: exp, RefreshHash: hash("r2"), RefreshExpiresAt: t0.Add(2 * time.Hour)}
	if err := s.RotateSession(ctx, hash("r1"), next); err != nil {
		t.Fatal(err)
	}
	got, err = s.GrantKeys(ctx, []store.KeyGrant{g(hash("a1"), tr.ID, t0, "x"), g(hash("a2"), tr.ID, t0, "y")})
	if err != nil || len(got) != 2 || got[0].Found || got[0].Granted || got[0].Key != nil || !got[1].Granted || !bytes.Equal(got[1].Key, key) {
		t.Fatalf("GrantKeys(old, new access token) after rotation = %+v, %v; want refused, granted", got, err)
	}
	if err := s.DeleteSession(ctx, hash("a2")); err != nil {
		t.Fatal(err)
	}
	got, err = s.GrantKeys(ctx, []store.KeyGrant{g(hash("a2"), tr.ID, t0, "z")})
	if err != nil || len(got) != 1 || got[0].Found || got[0].Granted || got[0].Key != nil {
		t.Fatalf("GrantKeys after logout = %+v, %v; want refused", got, err)
	}
	if audit, err := s.KeyRequests(ctx, "", 10); err != nil || len(audit) != 3 || audit[0].RemoteAddr != "y" {
		t.Fatalf("audit = %+v, %v; want 3 entries, the newest from y", audit, err)
	}
}

func testRotateSessionRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "alice")
	if err := s.CreateSession(ctx, store.Session{Account: "alice", AccessHash: hash("a"), RefreshHash: hash("r"),
		AccessExpiresAt: t0, RefreshExpiresAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.RotateSession(ctx, hash("r"), store.Session{
				AccessHash: hash(fmt.Sprint("a", i)), RefreshHash: hash(fmt.Sprint("r", i)),
				AccessExpiresAt: t0, RefreshExpiresAt: t0.Add(time.Hour)})
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("RotateSession = %v; want nil or ErrNotFound", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent renewals with one refresh token won; want exactly 1", wins)
	}
}

// testKey returns a signing key record for tests.
func testKey(id string, created time.Time) store.SigningKey {
	return store.SigningKey{ID: id, PublicKey: hash("pub" + id), PrivateKey: append(hash("priv"+id), hash("pub"+id)...), CreatedAt: created}
}

func mustKey(t *testing.T, s store.Store, id string) {
	t.Helper()
	if err := s.PutSigningKey(context.Background(), testKey(id, t0)); err != nil {
		t.Fatalf("PutSigningKey(%q) = %v", id, err)
	}
}

// testTrack returns a distinct track record for n.
func testTrack(n int, title, artist, album string) store.Track {
	id := fmt.Sprintf("bafktrack%04d", n)
	return store.Track{
		TrackMeta: store.TrackMeta{ID: id, Title: title, Artist: artist, Album: album,
			DurationMS: int64(1000 * n), ByteLength: int64(16384*n + 7), ContentType: "audio/wav", Chunks: n + 1},
		SourceHash: fmt.Sprintf("sha256:%064d", n),
		Manifest:   []byte(`{"v":1,"title":"` + title + `"}`),
		KeyID:      "k1",
		Signature:  hash("sig" + id),
		CreatedAt:  t0.Add(time.Duration(n) * time.Second),
	}
}

func testTracks(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustKey(t, s, "k1")
	tr := testTrack(1, "Light", "Band", "Album")
	key := hash("key1")
	if err := s.PutTrack(ctx, tr, key); err != nil {
		t.Fatalf("PutTrack = %v; want nil", err)
	}
	got, err := s.Track(ctx, tr.ID)
	if err != nil || !reflect.DeepEqual(got.TrackMeta, tr.TrackMeta) || got.SourceHash != tr.SourceHash ||
		!bytes.Equal(got.Manifest, tr.Manifest) || got.KeyID != tr.KeyID || !bytes.Equal(got.Signature, tr.Signature) ||
		!got.CreatedAt.Equal(tr.CreatedAt) {
		t.Fatalf("Track(%q) = %+v, %v; want %+v", tr.ID, got, err, tr)
	}
	if got, err := s.TrackBySource(ctx, tr.SourceHash); err != nil || got.ID != tr.ID {
		t.Fatalf("TrackBySource = %+v, %v; want %s", got, err, tr.ID)
	}
	if k, err := s.TrackKey(ctx, tr.ID); err != nil || !bytes.Equal(k, key) {
		t.Fatalf("TrackKey = %x, %v; want %x", k, err, key)
	}
	if _, err := s.Track(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Track(nope) = %v; want ErrNotFound", err)
	}
	if _, err := s.TrackKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TrackKey(nope) = %v; want ErrNotFound", err)
	}
	if _, err := s.TrackBySource(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TrackBySource(nope) = %v; want ErrNotFound", err)
	}
	// Same ID again, and another ID with the same source: both refused.
	if err := s.PutTrack(ctx, tr, key); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutTrack(same) = %v; want ErrExists", err)
	}
	dup := testTrack(2, "Other", "", "")
	dup.SourceHash = tr.SourceHash
	if err := s.PutTrack(ctx, dup, key); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutTrack(same source) = %v; want ErrExists", err)
	}
	if err := s.PutTrack(ctx, testTrack(3, "x", "", ""), nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("PutTrack(no key) = %v; want ErrInvalid", err)
	}
	if _, total, err := s.ListTracks(ctx, 10, 0); err != nil || total != 1 {
		t.Fatalf("ListTracks total = %d, %v; want 1", total, err)
	}
}

// testPutTrackAtomic: a PutTrack that fails part-way (here: the second
// track reuses the first's source hash, so the insert fails after nothing
// or something was written) leaves no trace in listing, search or keys.
func testPutTrackAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustKey(t, s, "k1")
	first := testTrack(1, "Alpha", "", "")
	if err := s.PutTrack(ctx, first, hash("k")); err != nil {
		t.Fatal(err)
	}
	bad := testTrack(2, "Zebra", "Zed", "Zoo")
	bad.SourceHash = first.SourceHash
	if err := s.PutTrack(ctx, bad, hash("k2")); err == nil {
		t.Fatal("PutTrack(duplicate source) = nil; want error")
	}
	unknownKey := testTrack(3, "Zebra", "Zed", "Zoo")
	unknownKey.KeyID = "no-such-key"
	if err := s.PutTrack(ctx, unknownKey, hash("k3")); err == nil {
		t.Fatal("PutTrack(unknown signing key) = nil; want error")
	}
	for _, id := range []string{bad.ID, unknownKey.ID} {
		if _, err := s.Track(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Track(%q) after failed put = %v; want ErrNotFound", id, err)
		}
		if _, err := s.TrackKey(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TrackKey(%q) after failed put = %v; want ErrNotFound", id, err)
		}
	}
	if got, total, err := s.SearchTracks(ctx, "zebra", 10, 0); err != nil || total != 0 || len(got) != 0 {
		t.Errorf("SearchTracks(zebra) = %v, %d, %v; want nothing", got, total, err)
	}
	// The IDs are free again.
	unknownKey.KeyID = "k1"
	if err := s.PutTrack(ctx, unknownKey, hash("k3")); err != nil {
		t.Fatalf("PutTrack after failures = %v; want nil", err)
	}
}

func testListPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustKey(t, s, "k1")
	const n = 7
	for i := range n {
		if err := s.PutTrack(ctx, testTrack(i, fmt.Sprint("Song ", i), "", ""), hash(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		limit, offset int
		want          []int
	}{
		{10, 0, []int{0, 1, 2, 3, 4, 5, 6}},
		{3, 0, []int{0, 1, 2}},
		{3, 3, []int{3, 4, 5}},
		{3, 6, []int{6}},
		{3, 7, nil},
		{0, 0, nil},
	}
	for _, tc := range tests {
		got, total, err := s.ListTracks(ctx, tc.limit, tc.offset)
		if err != nil || total != n {
			t.Fatalf("ListTracks(%d, %d) = total %d, %v; want %d", tc.limit, tc.offset, total, err, n)
		}
		var ids []int
		for _, m := range got {
			var i int
			fmt.Sscanf(m.ID, "bafktrack%04d", &i)
			ids = append(ids, i)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("ListTracks(%d, %d) = %v; want %v", tc.limit, tc.offset, ids, tc.want)
		}
	}
	if _, _, err := s.ListTracks(ctx, -1, 0); err == nil {
		t.Errorf("ListTracks(-1, 0) = nil error; want error")
	}
}

func testSearch(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustKey(t, s, "k1")
	tracks := []store.Track{
		testTrack(1, "Into the Light", "Aurora Borealis", "Northern Skies"),
		testTrack(2, "Dark Water", "The Lighthouse Keepers", "Tides"),
		testTrack(3, "Café Noir", "Élodie", "Nuit Blanche"),
		testTrack(4, "AND OR NOT", "Operators", "Syntax \"Quoted\""),
	}
	for i, tr := range tracks {
		if err := s.PutTrack(ctx, tr, hash(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		q    string
		want []int
	}{
		{"light", []int{1, 2}},
		{"ligh", []int{1, 2}},
		{"LIGHT", []int{1, 2}},
		{"lighthouse", []int{2}},
		{"aurora", []int{1}},
		{"northern", []int{1}},
		{"tides", []int{2}},
		{"dark lig", []int{2}},
		{"dark aurora", nil},
		{"café", []int{3}},
		{"caf", []int{3}},
		{"élodie", []int{3}},
		{"elodie", []int{3}},
		{"cafe noir", []int{3}},
		{"ÉLODIE", []int{3}},
		{"nuit", []int{3}},
		{"and", []int{4}},
		{"quoted", []int{4}},
		{"\"quoted\"", []int{4}},
		{"-light", []int{1, 2}},
		{"light*", []int{1, 2}},
		{"", nil},
		{"   ", nil},
		{"zzz", nil},
	}
	for _, tc := range tests {
		got, total, err := s.SearchTracks(ctx, tc.q, 50, 0)
		if err != nil {
			t.Errorf("SearchTracks(%q) = %v; want nil error", tc.q, err)
			continue
		}
		var ids []int
		for _, m := range got {
			var i int
			fmt.Sscanf(m.ID, "bafktrack%04d", &i)
			ids = append(ids, i)
		}
		if !reflect.DeepEqual(ids, tc.want) || total != len(tc.want) {
			t.Errorf("SearchTracks(%q) = %v (total %d); want %v", tc.q, ids, total, tc.want)
		}
	}
	got, total, err := s.SearchTracks(ctx, "light", 1, 1)
	if err != nil || total != 2 || len(got) != 1 || got[0].ID != tracks[1].ID {
		t.Errorf("SearchTracks(light, 1, 1) = %v, %d, %v; want [%s], 2", got, total, err, tracks[1].ID)
	}
}

// testSearchInsertionOrder: matches come in ingest order, which here is
// neither ID order nor creation-time order.
func testSearchInsertionOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustKey(t, s, "k1")
	order := []int{5, 2, 9, 1, 7}
	for i, n := range order {
		tr := testTrack(n, fmt.Sprint("Echo ", n), "Same Artist", "")
		tr.CreatedAt = t0.Add(-time.Duration(i) * time.Hour)
		if err := s.PutTrack(ctx, tr, hash(fmt.Sprint(n))); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"echo", "same art", "ech sam"} {
		got, total, err := s.SearchTracks(ctx, q, 10, 0)
		var ids []int
		for _, m := range got {
			var i int
			fmt.Sscanf(m.ID, "bafktrack%04d", &i)
			ids = append(ids, i)
		}
		if err != nil || total != len(order) || !reflect.DeepEqual(ids, order) {
			t.Errorf("SearchTracks(%q) = %v (total %d), %v; want %v", q, ids, total, err, order)
		}
	}
	got, _, err := s.SearchTracks(ctx, "echo", 2, 2)
	if err != nil || len(got) != 2 || got[0].ID != testTrack(9, "", "", "").ID || got[1].ID != testTrack(1, "", "", "").ID {
		t.Errorf("SearchTracks(echo, 2, 2) = %v, %v; want tracks 9, 1", got, err)
	}
}

// OddSearchInputs are search strings every backend must accept without
// error. Exported so backend packages can seed fuzz targets with them.
var OddSearchInputs = []string{
	`"`, `""`, `"""`, `*`, `**`, `"*`, `AND`, `OR`, `NOT`, `NEAR`, `NEAR/3`, `a OR b`, `-`, `-a`, `+a`,
	`(`, `)`, `(a`, `a)`, `^`, `^a`, `:`, `title:x`, `a:b`, `'`, `''`, `\`, `%`, `_`, `;`, `--`,
	`'; DROP TABLE tracks; --`, "\x00", "a\x00b", "\xff\xfe", "é", "\u0301", "a\u0301", "日本語", "🎵",
	"\u200b", "\t\n", `{}`, `[x]`, `a*b`, `a"b`, `$`, `#`, `@`, `a AND`, `AND a`, `NOT a`,
}

func testSearchOddInput(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustKey(t, s, "k1")
	if err := s.PutTrack(ctx, testTrack(1, "日本語のうた", "🎵 Band", "Álbum"), hash("k")); err != nil {
		t.Fatal(err)
	}
	for _, q := range OddSearchInputs {
		if _, _, err := s.SearchTracks(ctx, q, 10, 0); err != nil {
			t.Errorf("SearchTracks(%q) = %v; want nil error", q, err)
		}
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	if keys, err := s.SigningKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("SigningKeys on empty store = %v, %v; want none", keys, err)
	}
	k1 := testKey("k1", t0)
	if err := s.PutSigningKey(ctx, k1); err != nil {
		t.Fatalf("PutSigningKey = %v", err)
	}
	if err := s.PutSigningKey(ctx, k1); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutSigningKey again = %v; want ErrExists", err)
	}
	k2 := testKey("k2", t0) // same creation time: order must still be by insertion
	k2.EndorsedBy, k2.Endorsement = "k1", hash("endorse")
	if err := s.RotateSigningKey(ctx, "k1", k2); err != nil {
		t.Fatalf("RotateSigningKey(k1 -> k2) = %v; want nil", err)
	}
	k3 := testKey("k3", t0.Add(time.Hour))
	if err := s.RotateSigningKey(ctx, "k1", k3); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("RotateSigningKey(k1 -> k3) from retired key = %v; want ErrConflict", err)
	}
	if err := s.RotateSigningKey(ctx, "k2", k2); !errors.Is(err, store.ErrExists) {
		t.Fatalf("RotateSigningKey(k2 -> k2) = %v; want ErrExists", err)
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("SigningKeys = %v, %v; want 2 keys", keys, err)
	}
	if keys[0].ID != "k1" || !keys[0].Retired() || !keys[0].RetiredAt.Equal(k2.CreatedAt) || keys[0].EndorsedBy != "" {
		t.Errorf("keys[0] = %+v; want k1 retired at %v", keys[0], k2.CreatedAt)
	}
	if keys[1].ID != "k2" || keys[1].Retired() || keys[1].EndorsedBy != "k1" || !bytes.Equal(keys[1].Endorsement, k2.Endorsement) ||
		!bytes.Equal(keys[1].PublicKey, k2.PublicKey) || !bytes.Equal(keys[1].PrivateKey, k2.PrivateKey) {
		t.Errorf("keys[1] = %+v; want %+v", keys[1], k2)
	}
	// The failed rotation left the (rolled back) retirement untouched: k2 is
	// still current and rotates.
	if err := s.RotateSigningKey(ctx, "k2", k3); err != nil {
		t.Fatalf("RotateSigningKey(k2 -> k3) = %v; want nil", err)
	}
}

// testRotateSigningKeyRace: of concurrent rotations away from one key (two
// trackers rotating at once), exactly one wins; the rest get ErrConflict
// and the key list stays a chain.
func testRotateSigningKeyRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustKey(t, s, "k0")
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := testKey(fmt.Sprint("r", i), t0.Add(time.Minute))
			next.EndorsedBy = "k0"
			errs[i] = s.RotateSigningKey(ctx, "k0", next)
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("RotateSigningKey = %v; want nil or ErrConflict", err)
		}
	}
	keys, err := s.SigningKeys(ctx)
	if wins != 1 || err != nil || len(keys) != 2 || !keys[0].Retired() || keys[1].Retired() {
		t.Fatalf("%d of %d concurrent rotations won, keys %+v, %v; want 1 win and k0 retired, one current", wins, n, keys, err)
	}
}

func testKeyRequests(t *testing.T, s store.Store) {
	ctx := context.Background()
	var batch []store.KeyRequest
	for i, acct := range []string{"alice", "bob", "alice"} {
		batch = append(batch, store.KeyRequest{Account: acct, TrackID: fmt.Sprint("t", i), At: t0.Add(time.Duration(i) * time.Second), RemoteAddr: "127.0.0.1:1234"})
	}
	// One batch of two, then one of one, then an empty one: order is kept.
	for _, b := range [][]store.KeyRequest{batch[:2], batch[2:], nil} {
		if err := s.LogKeyRequests(ctx, b); err != nil {
			t.Fatalf("LogKeyRequests(%d) = %v", len(b), err)
		}
	}
	got, err := s.KeyRequests(ctx, "alice", 10)
	if err != nil || len(got) != 2 || got[0].TrackID != "t2" || got[1].TrackID != "t0" || !got[1].At.Equal(t0) || got[0].RemoteAddr != "127.0.0.1:1234" {
		t.Fatalf("KeyRequests(alice) = %+v, %v; want t2, t0", got, err)
	}
	if got, err := s.KeyRequests(ctx, "", 2); err != nil || len(got) != 2 || got[0].TrackID != "t2" || got[1].TrackID != "t1" {
		t.Fatalf("KeyRequests(all, 2) = %+v, %v; want t2, t1", got, err)
	}
}

func testTickets(t *testing.T, s store.Store) {
	ctx := context.Background()
	rec := store.TicketRecord{PeerID: "peerA", Account: "alice", KeyID: "k1", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.PutTickets(ctx, []store.TicketRecord{rec}); err != nil {
		t.Fatalf("PutTickets = %v", err)
	}
	later := rec
	later.IssuedAt, later.ExpiresAt = t0.Add(30*time.Minute), t0.Add(90*time.Minute)
	if err := s.PutTickets(ctx, []store.TicketRecord{later}); err != nil {
		t.Fatalf("PutTickets(later) = %v", err)
	}
	// A batch with an invalid record writes none of it.
	stray := store.TicketRecord{PeerID: "peerZ", Account: "alice", KeyID: "k1", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.PutTickets(ctx, []store.TicketRecord{stray, {PeerID: "peerY"}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("PutTickets(with an invalid record) = %v; want ErrInvalid", err)
	}
	if _, err := s.LiveTicket(ctx, "alice", "peerZ", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LiveTicket(peerZ) after a refused batch = %v; want ErrNotFound", err)
	}
	if err := s.PutTickets(ctx, []store.TicketRecord{stray, {PeerID: "peerY", Account: "bob", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}}); err != nil {
		t.Fatalf("PutTickets(two) = %v", err)
	}
	for _, p := range [][2]string{{"alice", "peerZ"}, {"bob", "peerY"}} {
		if _, err := s.LiveTicket(ctx, p[0], p[1], t0); err != nil {
			t.Fatalf("LiveTicket(%s, %s) after a batch of two = %v", p[0], p[1], err)
		}
	}
	got, err := s.LiveTicket(ctx, "alice", "peerA", t0.Add(time.Minute))
	if err != nil || !got.ExpiresAt.Equal(later.ExpiresAt) || got.KeyID != "k1" {
		t.Fatalf("LiveTicket = %+v, %v; want expiry %v", got, err, later.ExpiresAt)
	}
	for _, tc := range []struct {
		account, peer string
		at            time.Time
	}{
		{"bob", "peerA", t0},
		{"alice", "peerB", t0},
		{"alice", "peerA", t0.Add(90 * time.Minute)},
	} {
		if _, err := s.LiveTicket(ctx, tc.account, tc.peer, tc.at); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LiveTicket(%q, %q, %v) = %v; want ErrNotFound", tc.account, tc.peer, tc.at, err)
		}
	}
	if err := s.DeleteExpired(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatalf("DeleteExpired = %v", err)
	}
	if _, err := s.LiveTicket(ctx, "alice", "peerA", t0); err != nil {
		t.Fatalf("LiveTicket after sweep = %v; want the later ticket", err)
	}
}

func testAnnouncements(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 5 {
		a := store.Announcement{PeerID: fmt.Sprint("peer", i), Account: "alice", Addrs: []string{fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", 4000+i)},
			AnnouncedAt: t0.Add(time.Duration(i) * time.Minute), ExpiresAt: t0.Add(time.Duration(i)*time.Minute + 10*time.Minute)}
		if err := s.PutAnnouncement(ctx, a); err != nil {
			t.Fatalf("PutAnnouncement = %v", err)
		}
	}
	// Re-announce peer0 with two addresses: replaces, becomes the newest.
	re := store.Announcement{PeerID: "peer0", Account: "alice", Addrs: []string{"/ip4/127.0.0.1/udp/1/quic-v1", "/ip6/::1/udp/1/quic-v1"},
		AnnouncedAt: t0.Add(5 * time.Minute), ExpiresAt: t0.Add(15 * time.Minute)}
	if err := s.PutAnnouncement(ctx, re); err != nil {
		t.Fatalf("PutAnnouncement(again) = %v", err)
	}
	got, err := s.Announcements(ctx, t0.Add(5*time.Minute), 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("Announcements = %+v, %v; want 3", got, err)
	}
	if got[0].PeerID != "peer0" || !reflect.DeepEqual(got[0].Addrs, re.Addrs) || got[1].PeerID != "peer4" || got[2].PeerID != "peer3" {
		t.Errorf("Announcements = %+v; want peer0 (re-announced), peer4, peer3", got)
	}
	// At t0+12m, peer0 (re: until 15m), peer2 (12m: expired), peer3, peer4 remain... peer1 expired at 11m.
	got, err = s.Announcements(ctx, t0.Add(12*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, a := range got {
		peers = append(peers, a.PeerID)
	}
	if want := []string{"peer0", "peer4", "peer3"}; !reflect.DeepEqual(peers, want) {
		t.Errorf("Announcements(t0+12m) = %v; want %v", peers, want)
	}
	if err := s.DeleteExpired(ctx, t0.Add(14*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Announcements(ctx, t0, 10); err != nil || len(got) != 1 || got[0].PeerID != "peer0" {
		t.Errorf("Announcements after sweep = %+v, %v; want only peer0", got, err)
	}
}

func testClosed(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	ctx := context.Background()
	if _, err := s.Account(ctx, "x"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Account after Close = %v; want ErrClosed", err)
	}
	if err := s.CreateAccount(ctx, store.Account{Name: "x", PasswordHash: "h"}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("CreateAccount after Close = %v; want ErrClosed", err)
	}
	if _, err := s.GrantKeys(ctx, []store.KeyGrant{{AccessHash: hash("a"), TrackID: "t"}}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("GrantKeys after Close = %v; want ErrClosed", err)
	}
}

// testConcurrentReadWrite writes tracks while readers list them: no call
// may fail (no "database is locked"), and any track a reader sees must
// already have its key and search entry.
func testConcurrentReadWrite(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustKey(t, s, "k1")
	const writes, readers = 40, 3
	stop := make(chan struct{})
	errs := make(chan error, readers+1)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				list, _, err := s.ListTracks(ctx, writes, 0)
				if err != nil {
					errs <- fmt.Errorf("reader %d: ListTracks: %w", r, err)
					return
				}
				for _, m := range list {
					if _, err := s.TrackKey(ctx, m.ID); err != nil {
						errs <- fmt.Errorf("reader %d: listed track %s has no key: %w", r, m.ID, err)
						return
					}
					found, _, err := s.SearchTracks(ctx, m.Title, writes, 0)
					if err != nil || !slicesContainsID(found, m.ID) {
						errs <- fmt.Errorf("reader %d: listed track %s not searchable: %v", r, m.ID, err)
						return
					}
				}
			}
		}()
	}
	for i := range writes {
		if err := s.PutTrack(ctx, testTrack(i, fmt.Sprintf("Concurrent%03d", i), "", ""), hash(fmt.Sprint(i))); err != nil {
			t.Errorf("PutTrack %d = %v", i, err)
			break
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func slicesContainsID(ms []store.TrackMeta, id string) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

func testThrottle(t *testing.T, s store.Store) {
	ctx := context.Background()
	pair := store.ThrottleCharge{Key: "pair", Cost: 10 * time.Second, Limit: 30 * time.Second} // 3 at once
	wide := store.ThrottleCharge{Key: "wide", Cost: time.Second, Limit: 100 * time.Second}
	for i := range 3 {
		if _, ok, err := s.ChargeThrottle(ctx, t0, []store.ThrottleCharge{pair, wide}); err != nil || !ok {
			t.Fatalf("charge %d = %v, %v; want accepted", i, ok, err)
		}
	}
	retry, ok, err := s.ChargeThrottle(ctx, t0, []store.ThrottleCharge{pair, wide})
	if err != nil || ok || !retry.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("4th charge = %v, %v, %v; want refused until t0+10s", retry, ok, err)
	}
	// The refused charge took nothing from the other key.
	got, err := s.Throttles(ctx, t0, []string{"pair", "wide", "none"})
	if err != nil || len(got) != 2 || !got["pair"].Equal(t0.Add(30*time.Second)) || !got["wide"].Equal(t0.Add(3*time.Second)) {
		t.Fatalf("Throttles = %v, %v; want pair t0+30s, wide t0+3s", got, err)
	}
	// A refund gives one attempt back at once.
	if err := s.RefundThrottle(ctx, t0, []store.ThrottleCharge{pair}); err != nil {
		t.Fatalf("RefundThrottle = %v", err)
	}
	if _, ok, err := s.ChargeThrottle(ctx, t0, []store.ThrottleCharge{pair}); err != nil || !ok {
		t.Fatalf("charge after refund = %v, %v; want accepted", ok, err)
	}
	// Time drains the debt.
	if _, ok, err := s.ChargeThrottle(ctx, t0.Add(10*time.Second), []store.ThrottleCharge{pair}); err != nil || !ok {
		t.Fatalf("charge 10s later = %v, %v; want accepted", ok, err)
	}
	if got, err := s.Throttles(ctx, t0.Add(41*time.Second), []string{"pair", "wide"}); err != nil || len(got) != 0 {
		t.Fatalf("Throttles when clear = %v, %v; want none", got, err)
	}
	// Refunding a clear key leaves it clear; the sweep removes clear keys.
	if err := s.RefundThrottle(ctx, t0.Add(time.Hour), []store.ThrottleCharge{pair, wide}); err != nil {
		t.Fatalf("RefundThrottle(clear) = %v", err)
	}
	if err := s.DeleteExpired(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Throttles(ctx, t0, []string{"pair", "wide"}); err != nil || len(got) != 0 {
		t.Fatalf("Throttles after sweep = %v, %v; want none", got, err)
	}
	for _, bad := range [][]store.ThrottleCharge{
		{{Key: "", Cost: time.Second, Limit: time.Second}},
		{{Key: "x", Cost: 0, Limit: time.Second}},
		{{Key: "x", Cost: 2 * time.Second, Limit: time.Second}},
		{pair, pair},
	} {
		if _, _, err := s.ChargeThrottle(ctx, t0, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ChargeThrottle(%+v) = %v; want ErrInvalid", bad, err)
		}
	}
}

// testThrottleConcurrent: parallel charges never let more through than the
// limit allows.
func testThrottleConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	cs := []store.ThrottleCharge{{Key: "b", Cost: time.Second, Limit: 5 * time.Second}, {Key: "a", Cost: time.Second, Limit: 50 * time.Second}}
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := cs
			if i%2 == 1 {
				order = []store.ThrottleCharge{cs[1], cs[0]}
			}
			_, ok, err := s.ChargeThrottle(ctx, t0, order)
			if err != nil {
				t.Errorf("ChargeThrottle = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				accepted++
			}
		}()
	}
	wg.Wait()
	if accepted != 5 {
		t.Fatalf("%d of %d concurrent charges accepted; want exactly 5", accepted, n)
	}
}
