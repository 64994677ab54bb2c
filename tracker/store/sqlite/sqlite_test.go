package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "tracker.db"))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd dir #1?", "t.db")
	if _, err := Open(path); err == nil {
		t.Fatalf("Open(%q) in a missing directory = nil error; want error", path)
	}
	path = filepath.Join(t.TempDir(), "odd name #1?&x=y.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	ctx := context.Background()
	if err := s.CreateAccount(ctx, store.Account{Name: "alice", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen = %v", err)
	}
	defer s.Close()
	if _, err := s.Account(ctx, "alice"); err != nil {
		t.Fatalf("Account after reopen = %v", err)
	}
	var v int
	if err := s.r.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != len(migrations)-1 {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(migrations)-1)
	}
	var mode string
	if err := s.r.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := s.w.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v; want 1", fk, err)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db"} {
		if s, err := Open(p); err == nil {
			s.Close()
			t.Errorf("Open(%q) = nil error; want error", p)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatalf("Open(newer schema) = nil error; want error")
	}
}

func TestMatchExpr(t *testing.T) {
	tests := []struct{ q, want string }{
		{"ligh", `"ligh*"`},
		{"Into the LIGHT", `"into*" "the*" "light*"`},
		{`"a" OR -b*`, `"a*" "or*" "b*"`},
		{`'; DROP TABLE tracks; --`, `"drop*" "table*" "tracks*"`},
		{"", ""},
		{`"*()`, ""},
	}
	for _, tc := range tests {
		if got := matchExpr(tc.q); got != tc.want {
			t.Errorf("matchExpr(%q) = %q; want %q", tc.q, got, tc.want)
		}
	}
}

func FuzzSearch(f *testing.F) {
	for _, q := range storetest.OddSearchInputs {
		f.Add(q)
	}
	s, err := Open(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if err := s.PutSigningKey(ctx, store.SigningKey{ID: "k", PublicKey: []byte{1}, PrivateKey: []byte{2}}); err != nil {
		f.Fatal(err)
	}
	if err := s.PutTrack(ctx, store.Track{TrackMeta: store.TrackMeta{ID: "t", Title: "Light Café 日本"}, SourceHash: "h",
		Manifest: []byte("m"), KeyID: "k", Signature: []byte("s")}, []byte("key")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if _, _, err := s.SearchTracks(ctx, q, 10, 0); err != nil {
			t.Fatalf("SearchTracks(%q) = %v; want nil error", q, err)
		}
	})
}

func TestZeroTimeRoundTrips(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateAccount(ctx, store.Account{Name: "z", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	a, err := s.Account(ctx, "z")
	if err != nil || !a.CreatedAt.IsZero() {
		t.Fatalf("Account(z).CreatedAt = %v, %v; want the zero time", a.CreatedAt, err)
	}
}
