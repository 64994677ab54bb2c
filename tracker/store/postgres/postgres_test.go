package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/store/postgres/pgtest"
	"github.com/chorus-music/chorus/tracker/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.New(t))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	url := pgtest.New(t)
	ctx := context.Background()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, store.Account{Name: "alice", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, url)
	if err != nil {
		t.Fatalf("reopen = %v", err)
	}
	defer s.Close()
	if _, err := s.Account(ctx, "alice"); err != nil {
		t.Fatalf("Account after reopen = %v", err)
	}
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != LatestSchema() {
		t.Fatalf("schema version = %d, %v; want %d", v, err, LatestSchema())
	}
	// The search index is usable: the planner may use it, and the wrapper is
	// immutable.
	var vol string
	if err := s.pool.QueryRow(ctx, `SELECT provolatile FROM pg_proc WHERE proname = 'chorus_unaccent'`).Scan(&vol); err != nil || vol != "i" {
		t.Fatalf("chorus_unaccent volatility = %q, %v; want i (immutable)", vol, err)
	}
	// The search query can use the GIN index (with sequential scans off,
	// as the planner would choose on a large catalog).
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN SELECT t.id FROM tracks t WHERE t.search @@ `+tsQuery+` ORDER BY t.seq`, []string{"cafe"})
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if rows.Err() != nil || !strings.Contains(plan.String(), "tracks_search") {
		t.Fatalf("search plan does not use the index tracks_search (%v):\n%s", rows.Err(), plan.String())
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	url := pgtest.New(t)
	ctx := context.Background()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, url); !errors.Is(err, ErrSchema) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open(newer schema) = %v; want ErrSchema", err)
	}
}

// TestConcurrentOpenMigratesOnce: trackers starting together on one empty
// database both open it.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.New(t)
	ctx := context.Background()
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			s, err := Open(ctx, url)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open = %v", err)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	if s, err := Open(ctx, "postgres://u:secret@[bad"); !errors.Is(err, ErrURL) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open(bad URL) = %v; want ErrURL", err)
	} else if s := err.Error(); strings.Contains(s, "secret") {
		t.Fatalf("Open(bad URL) error %q shows the password", s)
	}
}

func FuzzSearch(f *testing.F) {
	for _, q := range storetest.OddSearchInputs {
		f.Add(q)
	}
	s, err := Open(context.Background(), pgtest.New(f))
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
