package dhtstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3"
)

// ErrPath reports a path that is not a plain file path.
var ErrPath = errors.New("dhtstore: bad path")

// Store is a datastore on one SQLite file. It is safe for concurrent use.
type Store struct {
	db *sql.DB // one connection: SQLite has one writer, and reads are short
}

var _ ds.Batching = (*Store)(nil)

// Open opens (creating if needed) the store at path.
func Open(path string) (*Store, error) {
	if path == "" || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("%w: %q: want a file path", ErrPath, path)
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: "_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL"}
	if !strings.HasPrefix(path, "/") {
		u = url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: u.RawQuery}
	}
	db, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return nil, fmt.Errorf("dhtstore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID`); err != nil {
		db.Close()
		return nil, fmt.Errorf("dhtstore: %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Get implements ds.Datastore.
func (s *Store) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM records WHERE key = ?`, key.String()).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ds.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("dhtstore: get %s: %w", key, err)
	}
	return v, nil
}

// Has implements ds.Datastore.
func (s *Store) Has(ctx context.Context, key ds.Key) (bool, error) {
	_, err := s.GetSize(ctx, key)
	if errors.Is(err, ds.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// GetSize implements ds.Datastore.
func (s *Store) GetSize(ctx context.Context, key ds.Key) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT length(value) FROM records WHERE key = ?`, key.String()).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, ds.ErrNotFound
	}
	if err != nil {
		return -1, fmt.Errorf("dhtstore: size %s: %w", key, err)
	}
	return n, nil
}

// Query implements ds.Datastore: the rows under q.Prefix come from SQLite,
// and go-datastore applies the query's exact prefix rule, filters, orders,
// offset and limit to them.
func (s *Store) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	prefix := ds.NewKey(q.Prefix).String()
	if prefix == "/" {
		prefix = ""
	}
	rows, err := s.db.QueryContext(ctx, `SELECT key, value FROM records WHERE substr(key, 1, ?) = ? ORDER BY key`, len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("dhtstore: query %s: %w", q.Prefix, err)
	}
	defer rows.Close()
	var entries []dsq.Entry
	for rows.Next() {
		var e dsq.Entry
		if err := rows.Scan(&e.Key, &e.Value); err != nil {
			return nil, fmt.Errorf("dhtstore: query %s: %w", q.Prefix, err)
		}
		e.Size = len(e.Value)
		if q.KeysOnly {
			e.Value = nil
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dhtstore: query %s: %w", q.Prefix, err)
	}
	return dsq.NaiveQueryApply(q, dsq.ResultsWithEntries(q, entries)), nil
}

// Put implements ds.Datastore.
func (s *Store) Put(ctx context.Context, key ds.Key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO records (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key.String(), value); err != nil {
		return fmt.Errorf("dhtstore: put %s: %w", key, err)
	}
	return nil
}

// Delete implements ds.Datastore; deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key ds.Key) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM records WHERE key = ?`, key.String()); err != nil {
		return fmt.Errorf("dhtstore: delete %s: %w", key, err)
	}
	return nil
}

// Sync implements ds.Datastore: every write is already committed.
func (s *Store) Sync(context.Context, ds.Key) error { return nil }

// Batch implements ds.Batching: the batch's writes commit in one
// transaction.
func (s *Store) Batch(context.Context) (ds.Batch, error) {
	return &batch{s: s}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

type op struct {
	key    ds.Key
	value  []byte
	delete bool
}

type batch struct {
	s   *Store
	ops []op
}

func (b *batch) Put(_ context.Context, key ds.Key, value []byte) error {
	b.ops = append(b.ops, op{key: key, value: append([]byte{}, value...)})
	return nil
}

func (b *batch) Delete(_ context.Context, key ds.Key) error {
	b.ops = append(b.ops, op{key: key, delete: true})
	return nil
}

func (b *batch) Commit(ctx context.Context) error {
	tx, err := b.s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("dhtstore: batch: %w", err)
	}
	defer tx.Rollback()
	for _, o := range b.ops {
		if o.delete {
			_, err = tx.ExecContext(ctx, `DELETE FROM records WHERE key = ?`, o.key.String())
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO records (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, o.key.String(), o.value)
		}
		if err != nil {
			return fmt.Errorf("dhtstore: batch %s: %w", o.key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("dhtstore: batch: %w", err)
	}
	b.ops = nil
	return nil
}
