package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order, each in its own transaction together with
// its row in schema_migrations. Never edit a released migration: append a
// new one. Times are INTEGER unix nanoseconds (NULL for "never").
var migrations = []string{
	1: `
CREATE TABLE accounts (
	name          TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	created_at    INTEGER NOT NULL
);
CREATE TABLE sessions (
	access_hash        BLOB NOT NULL UNIQUE,
	refresh_hash       BLOB NOT NULL UNIQUE,
	account            TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
	access_expires_at  INTEGER NOT NULL,
	refresh_expires_at INTEGER NOT NULL,
	created_at         INTEGER NOT NULL
);
CREATE INDEX sessions_refresh_expiry ON sessions(refresh_expires_at);
CREATE TABLE signing_keys (
	seq         INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	public_key  BLOB NOT NULL,
	private_key BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	retired_at  INTEGER,
	endorsed_by TEXT,
	endorsement BLOB
);
CREATE TABLE tracks (
	seq          INTEGER PRIMARY KEY,
	id           TEXT NOT NULL UNIQUE,
	source_hash  TEXT NOT NULL UNIQUE,
	title        TEXT NOT NULL,
	artist       TEXT NOT NULL,
	album        TEXT NOT NULL,
	duration_ms  INTEGER NOT NULL,
	byte_length  INTEGER NOT NULL,
	content_type TEXT NOT NULL,
	chunks       INTEGER NOT NULL,
	manifest     BLOB NOT NULL,
	key_id       TEXT NOT NULL REFERENCES signing_keys(id),
	signature    BLOB NOT NULL,
	created_at   INTEGER NOT NULL
);
CREATE TABLE track_keys (
	track_id TEXT PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
	key      BLOB NOT NULL
);
CREATE VIRTUAL TABLE track_search USING fts4(title, artist, album, tokenize=unicode61);
CREATE TABLE key_requests (
	seq         INTEGER PRIMARY KEY,
	account     TEXT NOT NULL,
	track_id    TEXT NOT NULL,
	at          INTEGER NOT NULL,
	remote_addr TEXT NOT NULL
);
CREATE INDEX key_requests_account ON key_requests(account, seq);
CREATE TABLE tickets (
	seq        INTEGER PRIMARY KEY,
	peer_id    TEXT NOT NULL,
	account    TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX tickets_account_peer ON tickets(account, peer_id, expires_at);
CREATE TABLE announcements (
	peer_id      TEXT PRIMARY KEY,
	account      TEXT NOT NULL,
	addrs        TEXT NOT NULL,
	announced_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL
);
CREATE INDEX announcements_recent ON announcements(announced_at);
`,
	2: `
CREATE TABLE throttles (
	key      TEXT PRIMARY KEY,
	clear_at INTEGER NOT NULL
);
CREATE INDEX throttles_clear ON throttles(clear_at);
`,
}

// migrate brings the schema up to date on the writer connection.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := len(migrations) - 1
	if have > latest {
		return fmt.Errorf("%w: database schema version %d is newer than this binary's %d", ErrSchema, have, latest)
	}
	for v := have + 1; v <= latest; v++ {
		if err := applyMigration(ctx, db, v); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, v int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d: begin: %w", v, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return fmt.Errorf("migration %d: %w", v, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, strftime('%s','now'))`, v); err != nil {
		return fmt.Errorf("migration %d: record: %w", v, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: commit: %w", v, err)
	}
	return nil
}
