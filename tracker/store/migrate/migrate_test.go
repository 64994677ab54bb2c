package migrate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/store/postgres"
	"github.com/chorus-music/chorus/tracker/store/postgres/pgtest"
	"github.com/chorus-music/chorus/tracker/store/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 123456000, time.UTC)

// fill puts rows in every table of st.
func fill(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateAccount(ctx, store.Account{Name: "alice", PasswordHash: "$argon2id$a", CreatedAt: t0}))
	must(st.CreateAccount(ctx, store.Account{Name: "Bob", PasswordHash: "$argon2id$b"}))
	must(st.CreateSession(ctx, store.Session{Account: "alice", AccessHash: []byte{1, 2}, RefreshHash: []byte{3, 0, 4},
		AccessExpiresAt: t0.Add(time.Minute), RefreshExpiresAt: t0.Add(time.Hour), CreatedAt: t0}))
	must(st.PutSigningKey(ctx, store.SigningKey{ID: "k1", PublicKey: []byte("pub1"), PrivateKey: []byte("priv1"), CreatedAt: t0}))
	must(st.RotateSigningKey(ctx, "k1", store.SigningKey{ID: "k2", PublicKey: []byte("pub2"), PrivateKey: []byte("priv2"),
		CreatedAt: t0.Add(time.Hour), EndorsedBy: "k1", Endorsement: []byte("sig")}))
	for i, title := range []string{"Zebra Café", "Alpha Light", "Mid Élan"} {
		must(st.PutTrack(ctx, store.Track{TrackMeta: store.TrackMeta{ID: fmt.Sprint("track", 9-i), Title: title, Artist: "Band",
			Album: "LP", DurationMS: 1000, ByteLength: int64(i), ContentType: "audio/wav", Chunks: i + 1},
			SourceHash: fmt.Sprint("src", i), Manifest: []byte("{}"), KeyID: "k2", Signature: []byte("s"), CreatedAt: t0}, []byte(fmt.Sprint("key", i))))
	}
	must(st.LogKeyRequests(ctx, []store.KeyRequest{{Account: "alice", TrackID: "track9", At: t0, RemoteAddr: "127.0.0.1:1"},
		{Account: "alice", TrackID: "track8", At: t0.Add(time.Second), RemoteAddr: "[::1]:2"}}))
	must(st.PutTickets(ctx, []store.TicketRecord{{PeerID: "peer", Account: "alice", KeyID: "k2", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}}))
	must(st.PutAnnouncement(ctx, store.Announcement{PeerID: "peer", Account: "alice", Addrs: []string{"/ip4/127.0.0.1/udp/1/quic-v1"},
		AnnouncedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
	if _, ok, err := st.ChargeThrottle(ctx, t0, []store.ThrottleCharge{{Key: "login/net/1.2.3.4", Cost: time.Second, Limit: time.Minute}}); err != nil || !ok {
		t.Fatalf("ChargeThrottle = %v, %v", ok, err)
	}
}

func TestCopyVerifies(t *testing.T) {
	ctx := context.Background()
	src, err := sqlite.Open(filepath.Join(t.TempDir(), "tracker.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fill(t, src)
	dst, err := postgres.Open(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	reps, err := Copy(ctx, src, dst)
	if err != nil {
		t.Fatalf("Copy = %v", err)
	}
	want := map[string]int64{"accounts": 2, "sessions": 1, "signing_keys": 2, "tracks": 3, "track_keys": 3,
		"key_requests": 2, "tickets": 1, "announcements": 1, "throttles": 1}
	if len(reps) != len(want) {
		t.Fatalf("Copy reported %d tables; want %d", len(reps), len(want))
	}
	for _, r := range reps {
		if r.Rows != want[r.Table] || len(r.SHA256) != 64 {
			t.Errorf("table %s: %d rows, sha256 %q; want %d rows", r.Table, r.Rows, r.SHA256, want[r.Table])
		}
	}
	// The copy works as a store: search in ingest order, keys in order,
	// sessions by hash, and new rows continue the sequences.
	got, total, err := dst.SearchTracks(ctx, "band", 10, 0)
	if err != nil || total != 3 || got[0].ID != "track9" || got[2].ID != "track7" {
		t.Fatalf("SearchTracks(band) on the copy = %v, %d, %v; want track9, track8, track7", got, total, err)
	}
	if got, _, err := dst.SearchTracks(ctx, "cafe", 10, 0); err != nil || len(got) != 1 || got[0].ID != "track9" {
		t.Fatalf("SearchTracks(cafe) on the copy = %v, %v; want track9", got, err)
	}
	keys, err := dst.SigningKeys(ctx)
	if err != nil || len(keys) != 2 || keys[1].ID != "k2" || !keys[0].Retired() || keys[1].EndorsedBy != "k1" {
		t.Fatalf("SigningKeys on the copy = %+v, %v", keys, err)
	}
	if se, err := dst.SessionByRefresh(ctx, []byte{3, 0, 4}); err != nil || se.Account != "alice" || !se.CreatedAt.Equal(t0) {
		t.Fatalf("SessionByRefresh on the copy = %+v, %v", se, err)
	}
	if err := dst.PutTrack(ctx, store.Track{TrackMeta: store.TrackMeta{ID: "track0", Title: "New Band"}, SourceHash: "srcN",
		Manifest: []byte("{}"), KeyID: "k2", Signature: []byte("s")}, []byte("k")); err != nil {
		t.Fatalf("PutTrack on the copy = %v", err)
	}
	if got, _, err := dst.SearchTracks(ctx, "band", 10, 0); err != nil || len(got) != 4 || got[3].ID != "track0" {
		t.Fatalf("after a new track, SearchTracks(band) = %v, %v; want it last", got, err)
	}
	// A second copy into the now non-empty database is refused.
	if _, err := Copy(ctx, src, dst); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("Copy into a non-empty database = %v; want ErrNotEmpty", err)
	}
}
