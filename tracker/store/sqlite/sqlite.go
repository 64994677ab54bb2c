package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/chorus-music/chorus/tracker/store"
)

// Store is a store.Store on one SQLite file.
//
// It holds two *sql.DB handles on the same file: a writer limited to one
// connection (so SQLite never sees two writers and never returns SQLITE_BUSY
// to a write; its transactions BEGIN IMMEDIATE, so a read-then-write
// transaction can never deadlock on a lock upgrade), and a pool of
// query-only reader connections, which WAL mode lets run beside the writer.
type Store struct {
	w      *sql.DB // the single writer connection
	r      *sql.DB // query-only readers
	closed atomic.Bool

	// Prepared reads of the hot paths (every authenticated request, every
	// manifest and key), on the readers.
	sessionByAccess, sessionByRefresh, trackByID, trackBySource, trackKey *sql.Stmt
	// Prepared statements of GrantKeys, on the writer.
	grantLook, grantInsert *sql.Stmt
}

var _ store.Store = (*Store)(nil)

// MaxReaders is the size of the reader pool.
const MaxReaders = 4

// Open opens (creating if needed) the SQLite database at path and applies
// any pending migrations.
func Open(path string) (*Store, error) {
	if path == "" || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("%w: %q: want a file path", ErrPath, path)
	}
	common := "_busy_timeout=5000&_foreign_keys=1"
	w, err := sql.Open("sqlite3", dsn(path, common+"&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(context.Background(), w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	r, err := sql.Open("sqlite3", dsn(path, common+"&_query_only=1"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open readers %s: %w", path, err)
	}
	r.SetMaxOpenConns(MaxReaders)
	r.SetMaxIdleConns(MaxReaders)
	if err := r.Ping(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open readers %s: %w", path, err)
	}
	s := &Store{w: w, r: r}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&s.sessionByAccess, `SELECT ` + sessionCols + ` FROM sessions WHERE access_hash = ?`},
		{&s.sessionByRefresh, `SELECT ` + sessionCols + ` FROM sessions WHERE refresh_hash = ?`},
		{&s.trackByID, trackQuery + `id = ?`},
		{&s.trackBySource, trackQuery + `source_hash = ?`},
		{&s.trackKey, `SELECT key FROM track_keys WHERE track_id = ?`},
	} {
		if *p.st, err = r.Prepare(p.q); err != nil {
			s.closeAll()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", p.q, err)
		}
	}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&s.grantLook, `SELECT s.account, s.access_expires_at, (SELECT key FROM track_keys WHERE track_id = ?2)
			FROM sessions s WHERE s.access_hash = ?1`},
		{&s.grantInsert, `INSERT INTO key_requests (account, track_id, at, remote_addr) VALUES (?, ?, ?, ?)`},
	} {
		if *p.st, err = w.Prepare(p.q); err != nil {
			s.closeAll()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", p.q, err)
		}
	}
	return s, nil
}

const trackQuery = `SELECT ` + metaCols + `, t.source_hash, t.manifest, t.key_id, t.signature, t.created_at FROM tracks t WHERE t.`

// closeAll closes the statements and both handles.
func (s *Store) closeAll() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.sessionByAccess, s.sessionByRefresh, s.trackByID, s.trackBySource, s.trackKey, s.grantLook, s.grantInsert} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}

// dsn builds a file: URI, escaping the path, so go-sqlite3 passes the
// query to SQLite untouched and odd characters in the path stay literal.
func dsn(path, query string) string {
	u := url.URL{Scheme: "file", Path: path, RawQuery: query}
	if !strings.HasPrefix(path, "/") {
		// A relative path: file:rel/path?...
		u = url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: query}
	}
	return u.String()
}

// DB returns the query-only reader pool, for tools that read the tables
// directly (chorus migrate). Writes through it fail.
func (s *Store) DB() *sql.DB { return s.r }

// Close closes both handles.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.closeAll()
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// mapErr turns SQLite constraint errors into store sentinels.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return fmt.Errorf("%s: %w: %v", op, store.ErrExists, err)
		case sqlite3.ErrConstraintForeignKey, sqlite3.ErrConstraintNotNull:
			return fmt.Errorf("%s: %w: %v", op, store.ErrInvalid, err)
		}
	}
	if errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "sql: database is closed") {
		return fmt.Errorf("%s: %w", op, store.ErrClosed)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// nanos stores t as unix nanoseconds; the zero time (outside UnixNano's
// range) is stored as 0 and read back as the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// inTx runs f in a write transaction.
func (s *Store) inTx(ctx context.Context, op string, f func(tx *sql.Tx) error) error {
	if err := s.check(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := f(tx); err != nil {
		return err
	}
	return mapErr(op, tx.Commit())
}

// exec runs one write statement and returns the rows it affected.
func (s *Store) exec(ctx context.Context, op, q string, args ...any) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	res, err := s.w.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, mapErr(op, err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(op, err)
}

// CreateAccount implements store.Store.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	if a.Name == "" || a.PasswordHash == "" {
		return fmt.Errorf("create account: %w: empty name or hash", store.ErrInvalid)
	}
	_, err := s.exec(ctx, "create account", `INSERT INTO accounts (name, password_hash, created_at) VALUES (?, ?, ?)`,
		a.Name, a.PasswordHash, nanos(a.CreatedAt))
	return err
}

// Account implements store.Store.
func (s *Store) Account(ctx context.Context, name string) (store.Account, error) {
	a := store.Account{Name: name}
	if err := s.check(); err != nil {
		return a, err
	}
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT password_hash, created_at FROM accounts WHERE name = ?`, name).Scan(&a.PasswordHash, &created)
	a.CreatedAt = fromNanos(created)
	return a, mapErr("account", err)
}

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	if len(se.AccessHash) == 0 || len(se.RefreshHash) == 0 || se.Account == "" {
		return fmt.Errorf("create session: %w: empty hash or account", store.ErrInvalid)
	}
	_, err := s.exec(ctx, "create session", `INSERT INTO sessions
		(access_hash, refresh_hash, account, access_expires_at, refresh_expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		se.AccessHash, se.RefreshHash, se.Account, nanos(se.AccessExpiresAt), nanos(se.RefreshExpiresAt), nanos(se.CreatedAt))
	return err
}

const sessionCols = `access_hash, refresh_hash, account, access_expires_at, refresh_expires_at, created_at`

func (s *Store) sessionBy(ctx context.Context, q *sql.Stmt, hash []byte) (store.Session, error) {
	var se store.Session
	if err := s.check(); err != nil {
		return se, err
	}
	if len(hash) == 0 {
		return se, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	var ae, re, c int64
	err := q.QueryRowContext(ctx, hash).Scan(&se.AccessHash, &se.RefreshHash, &se.Account, &ae, &re, &c)
	se.AccessExpiresAt, se.RefreshExpiresAt, se.CreatedAt = fromNanos(ae), fromNanos(re), fromNanos(c)
	return se, mapErr("session", err)
}

// SessionByAccess implements store.Store.
func (s *Store) SessionByAccess(ctx context.Context, hash []byte) (store.Session, error) {
	return s.sessionBy(ctx, s.sessionByAccess, hash)
}

// SessionByRefresh implements store.Store.
func (s *Store) SessionByRefresh(ctx context.Context, hash []byte) (store.Session, error) {
	return s.sessionBy(ctx, s.sessionByRefresh, hash)
}

// RotateSession implements store.Store.
func (s *Store) RotateSession(ctx context.Context, oldRefresh []byte, next store.Session) error {
	if len(next.AccessHash) == 0 || len(next.RefreshHash) == 0 {
		return fmt.Errorf("rotate session: %w: empty hash", store.ErrInvalid)
	}
	n, err := s.exec(ctx, "rotate session", `UPDATE sessions SET access_hash = ?, refresh_hash = ?,
		access_expires_at = ?, refresh_expires_at = ? WHERE refresh_hash = ?`,
		next.AccessHash, next.RefreshHash, nanos(next.AccessExpiresAt), nanos(next.RefreshExpiresAt), oldRefresh)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("rotate session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, accessHash []byte) error {
	n, err := s.exec(ctx, "delete session", `DELETE FROM sessions WHERE access_hash = ?`, accessHash)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("delete session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteExpiredSessions implements store.Store.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	n, err := s.exec(ctx, "delete expired sessions", `DELETE FROM sessions WHERE refresh_expires_at <= ?`, nanos(now))
	return int(n), err
}

// PutTrack implements store.Store: track row, key row and search row in one
// transaction.
func (s *Store) PutTrack(ctx context.Context, t store.Track, key []byte) error {
	if t.ID == "" || t.SourceHash == "" || len(t.Manifest) == 0 || len(t.Signature) == 0 || t.KeyID == "" || len(key) == 0 {
		return fmt.Errorf("put track: %w: missing field", store.ErrInvalid)
	}
	return s.inTx(ctx, "put track", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO tracks
			(id, source_hash, title, artist, album, duration_ms, byte_length, content_type, chunks,
			 manifest, key_id, signature, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.SourceHash, t.Title, t.Artist, t.Album, t.DurationMS, t.ByteLength, t.ContentType, t.Chunks,
			t.Manifest, t.KeyID, t.Signature, nanos(t.CreatedAt))
		if err != nil {
			return mapErr("put track", err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return mapErr("put track", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO track_keys (track_id, key) VALUES (?, ?)`, t.ID, key); err != nil {
			return mapErr("put track key", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO track_search (docid, title, artist, album) VALUES (?, ?, ?, ?)`,
			seq, t.Title, t.Artist, t.Album); err != nil {
			return mapErr("put track search entry", err)
		}
		return nil
	})
}

const metaCols = `t.id, t.title, t.artist, t.album, t.duration_ms, t.byte_length, t.content_type, t.chunks`

type scanner interface{ Scan(dest ...any) error }

func scanMeta(sc scanner, extra ...any) (store.TrackMeta, error) {
	var m store.TrackMeta
	dest := append([]any{&m.ID, &m.Title, &m.Artist, &m.Album, &m.DurationMS, &m.ByteLength, &m.ContentType, &m.Chunks}, extra...)
	return m, sc.Scan(dest...)
}

func (s *Store) trackBy(ctx context.Context, q *sql.Stmt, v string) (store.Track, error) {
	var t store.Track
	if err := s.check(); err != nil {
		return t, err
	}
	var created int64
	row := q.QueryRowContext(ctx, v)
	m, err := scanMeta(row, &t.SourceHash, &t.Manifest, &t.KeyID, &t.Signature, &created)
	t.TrackMeta, t.CreatedAt = m, fromNanos(created)
	return t, mapErr("track", err)
}

// Track implements store.Store.
func (s *Store) Track(ctx context.Context, id string) (store.Track, error) {
	return s.trackBy(ctx, s.trackByID, id)
}

// TrackBySource implements store.Store.
func (s *Store) TrackBySource(ctx context.Context, sourceHash string) (store.Track, error) {
	return s.trackBy(ctx, s.trackBySource, sourceHash)
}

// TrackKey implements store.Store.
func (s *Store) TrackKey(ctx context.Context, id string) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var key []byte
	err := s.trackKey.QueryRowContext(ctx, id).Scan(&key)
	return key, mapErr("track key", err)
}

// readTx runs f in a read-only transaction so counts and pages agree.
func (s *Store) readTx(ctx context.Context, op string, f func(tx *sql.Tx) error) error {
	if err := s.check(); err != nil {
		return err
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	if err := f(tx); err != nil {
		return mapErr(op, err)
	}
	return nil
}

func collectMeta(rows *sql.Rows) ([]store.TrackMeta, error) {
	defer rows.Close()
	var out []store.TrackMeta
	for rows.Next() {
		m, err := scanMeta(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func checkPage(limit, offset int) error {
	if limit < 0 || offset < 0 {
		return fmt.Errorf("%w: negative limit %d or offset %d", store.ErrInvalid, limit, offset)
	}
	return nil
}

// ListTracks implements store.Store.
func (s *Store) ListTracks(ctx context.Context, limit, offset int) ([]store.TrackMeta, int, error) {
	if err := checkPage(limit, offset); err != nil {
		return nil, 0, err
	}
	var out []store.TrackMeta
	var total int
	err := s.readTx(ctx, "list tracks", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tracks`).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+metaCols+` FROM tracks t ORDER BY t.seq LIMIT ? OFFSET ?`, limit, offset)
		if err != nil {
			return err
		}
		out, err = collectMeta(rows)
		return err
	})
	return out, total, err
}

// matchExpr turns a user query into an FTS4 MATCH expression: each word a
// quoted prefix phrase ("word*", FTS3/4 syntax), all of them required. SearchTerms leaves
// only letters, digits and marks in a word, so no quote or operator reaches
// SQLite.
func matchExpr(q string) string {
	terms := store.SearchTerms(q)
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		parts = append(parts, `"`+t+`*"`)
	}
	return strings.Join(parts, " ")
}

// SearchTracks implements store.Store with FTS4 prefix queries.
func (s *Store) SearchTracks(ctx context.Context, query string, limit, offset int) ([]store.TrackMeta, int, error) {
	if err := checkPage(limit, offset); err != nil {
		return nil, 0, err
	}
	match := matchExpr(query)
	if match == "" {
		return nil, 0, s.check()
	}
	var out []store.TrackMeta
	var total int
	err := s.readTx(ctx, "search tracks", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM track_search WHERE track_search MATCH ?`, match).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+metaCols+` FROM track_search s JOIN tracks t ON t.seq = s.docid
			WHERE track_search MATCH ? ORDER BY t.seq LIMIT ? OFFSET ?`, match, limit, offset)
		if err != nil {
			return err
		}
		out, err = collectMeta(rows)
		return err
	})
	return out, total, err
}

// PutSigningKey implements store.Store.
func (s *Store) PutSigningKey(ctx context.Context, k store.SigningKey) error {
	if k.ID == "" || len(k.PublicKey) == 0 || len(k.PrivateKey) == 0 {
		return fmt.Errorf("put signing key: %w: missing field", store.ErrInvalid)
	}
	return s.inTx(ctx, "put signing key", func(tx *sql.Tx) error { return insertKey(ctx, tx, k) })
}

func insertKey(ctx context.Context, tx *sql.Tx, k store.SigningKey) error {
	var endorsedBy sql.NullString
	if k.EndorsedBy != "" {
		endorsedBy = sql.NullString{String: k.EndorsedBy, Valid: true}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys
		(id, public_key, private_key, created_at, retired_at, endorsed_by, endorsement) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.PublicKey, k.PrivateKey, nanos(k.CreatedAt), nullNanos(k.RetiredAt), endorsedBy, k.Endorsement)
	return mapErr("put signing key", err)
}

// SigningKeys implements store.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, public_key, private_key, created_at, retired_at, endorsed_by, endorsement
		FROM signing_keys ORDER BY seq`)
	if err != nil {
		return nil, mapErr("signing keys", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created int64
		var retired sql.NullInt64
		var endorsedBy sql.NullString
		if err := rows.Scan(&k.ID, &k.PublicKey, &k.PrivateKey, &created, &retired, &endorsedBy, &k.Endorsement); err != nil {
			return nil, mapErr("signing keys", err)
		}
		k.CreatedAt, k.RetiredAt, k.EndorsedBy = fromNanos(created), fromNull(retired), endorsedBy.String
		out = append(out, k)
	}
	return out, mapErr("signing keys", rows.Err())
}

// RotateSigningKey implements store.Store.
func (s *Store) RotateSigningKey(ctx context.Context, current string, next store.SigningKey) error {
	if next.ID == "" || len(next.PublicKey) == 0 || len(next.PrivateKey) == 0 || !next.RetiredAt.IsZero() {
		return fmt.Errorf("rotate signing key: %w: missing field or retired", store.ErrInvalid)
	}
	return s.inTx(ctx, "rotate signing key", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ?
			WHERE id = ? AND retired_at IS NULL AND seq = (SELECT MAX(seq) FROM signing_keys)`,
			nanos(next.CreatedAt), current)
		if err != nil {
			return mapErr("rotate signing key", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return mapErr("rotate signing key", err)
		}
		if n == 0 {
			return fmt.Errorf("rotate signing key: %w: %q is not the current key", store.ErrConflict, current)
		}
		return insertKey(ctx, tx, next)
	})
}

// LogKeyRequests implements store.Store: one transaction, one prepared
// insert.
func (s *Store) LogKeyRequests(ctx context.Context, rs []store.KeyRequest) error {
	if len(rs) == 0 {
		return s.check()
	}
	return s.inTx(ctx, "log key requests", func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO key_requests (account, track_id, at, remote_addr) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return mapErr("log key requests", err)
		}
		defer st.Close()
		for _, r := range rs {
			if _, err := st.ExecContext(ctx, r.Account, r.TrackID, nanos(r.At), r.RemoteAddr); err != nil {
				return mapErr("log key requests", err)
			}
		}
		return nil
	})
}

// GrantKeys implements store.Store in one write transaction: per request
// one lookup of the session and the key, and the audit insert if granted.
func (s *Store) GrantKeys(ctx context.Context, gs []store.KeyGrant) ([]store.KeyGrantResult, error) {
	if len(gs) == 0 {
		return nil, s.check()
	}
	out := make([]store.KeyGrantResult, len(gs))
	err := s.inTx(ctx, "grant keys", func(tx *sql.Tx) error {
		look, ins := tx.StmtContext(ctx, s.grantLook), tx.StmtContext(ctx, s.grantInsert)
		for i, g := range gs {
			if len(g.AccessHash) == 0 {
				continue // no session: refused, not audited
			}
			var account string
			var expires int64
			var key []byte
			err := look.QueryRowContext(ctx, g.AccessHash, g.TrackID).Scan(&account, &expires, &key)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			} else if err != nil {
				return mapErr("grant keys", err)
			}
			r := store.KeyGrantResult{Found: true, Account: account, AccessExpiresAt: fromNanos(expires)}
			if key != nil && nanos(g.At) < expires {
				if _, err := ins.ExecContext(ctx, account, g.TrackID, nanos(g.At), g.RemoteAddr); err != nil {
					return mapErr("grant keys", err)
				}
				r.Granted, r.Key = true, key
			}
			out[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// KeyRequests implements store.Store.
func (s *Store) KeyRequests(ctx context.Context, account string, limit int) ([]store.KeyRequest, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("key requests: %w: negative limit", store.ErrInvalid)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT account, track_id, at, remote_addr FROM key_requests
		WHERE ? = '' OR account = ? ORDER BY seq DESC LIMIT ?`, account, account, limit)
	if err != nil {
		return nil, mapErr("key requests", err)
	}
	defer rows.Close()
	var out []store.KeyRequest
	for rows.Next() {
		var r store.KeyRequest
		var at int64
		if err := rows.Scan(&r.Account, &r.TrackID, &at, &r.RemoteAddr); err != nil {
			return nil, mapErr("key requests", err)
		}
		r.At = fromNanos(at)
		out = append(out, r)
	}
	return out, mapErr("key requests", rows.Err())
}

// PutTickets implements store.Store: one transaction, one prepared insert.
func (s *Store) PutTickets(ctx context.Context, ts []store.TicketRecord) error {
	for _, t := range ts {
		if t.PeerID == "" || t.Account == "" {
			return fmt.Errorf("put tickets: %w: empty peer or account", store.ErrInvalid)
		}
	}
	if len(ts) == 0 {
		return s.check()
	}
	return s.inTx(ctx, "put tickets", func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO tickets (peer_id, account, key_id, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return mapErr("put tickets", err)
		}
		defer st.Close()
		for _, t := range ts {
			if _, err := st.ExecContext(ctx, t.PeerID, t.Account, t.KeyID, nanos(t.IssuedAt), nanos(t.ExpiresAt)); err != nil {
				return mapErr("put tickets", err)
			}
		}
		return nil
	})
}

// LiveTicket implements store.Store.
func (s *Store) LiveTicket(ctx context.Context, account, peerID string, now time.Time) (store.TicketRecord, error) {
	t := store.TicketRecord{PeerID: peerID, Account: account}
	if err := s.check(); err != nil {
		return t, err
	}
	var issued, expires int64
	err := s.r.QueryRowContext(ctx, `SELECT key_id, issued_at, expires_at FROM tickets
		WHERE account = ? AND peer_id = ? AND expires_at > ? ORDER BY expires_at DESC LIMIT 1`,
		account, peerID, nanos(now)).Scan(&t.KeyID, &issued, &expires)
	t.IssuedAt, t.ExpiresAt = fromNanos(issued), fromNanos(expires)
	return t, mapErr("live ticket", err)
}

// PutAnnouncement implements store.Store.
func (s *Store) PutAnnouncement(ctx context.Context, a store.Announcement) error {
	if a.PeerID == "" || a.Account == "" || len(a.Addrs) == 0 {
		return fmt.Errorf("put announcement: %w: empty peer, account or addrs", store.ErrInvalid)
	}
	addrs, err := json.Marshal(a.Addrs)
	if err != nil {
		return fmt.Errorf("put announcement: %w: %v", store.ErrInvalid, err)
	}
	_, err = s.exec(ctx, "put announcement", `INSERT INTO announcements (peer_id, account, addrs, announced_at, expires_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (peer_id) DO UPDATE SET account = excluded.account, addrs = excluded.addrs,
			announced_at = excluded.announced_at, expires_at = excluded.expires_at`,
		a.PeerID, a.Account, string(addrs), nanos(a.AnnouncedAt), nanos(a.ExpiresAt))
	return err
}

// Announcements implements store.Store.
func (s *Store) Announcements(ctx context.Context, now time.Time, limit int) ([]store.Announcement, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("announcements: %w: negative limit", store.ErrInvalid)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT peer_id, account, addrs, announced_at, expires_at FROM announcements
		WHERE expires_at > ? ORDER BY announced_at DESC, peer_id LIMIT ?`, nanos(now), limit)
	if err != nil {
		return nil, mapErr("announcements", err)
	}
	defer rows.Close()
	var out []store.Announcement
	for rows.Next() {
		var a store.Announcement
		var addrs string
		var at, exp int64
		if err := rows.Scan(&a.PeerID, &a.Account, &addrs, &at, &exp); err != nil {
			return nil, mapErr("announcements", err)
		}
		if err := json.Unmarshal([]byte(addrs), &a.Addrs); err != nil {
			return nil, fmt.Errorf("sqlite: announcements: peer %s: corrupt addrs: %w", a.PeerID, err)
		}
		a.AnnouncedAt, a.ExpiresAt = fromNanos(at), fromNanos(exp)
		out = append(out, a)
	}
	return out, mapErr("announcements", rows.Err())
}

// DeleteExpired implements store.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) error {
	return s.inTx(ctx, "delete expired", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tickets WHERE expires_at <= ?`, nanos(now)); err != nil {
			return mapErr("delete expired tickets", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM announcements WHERE expires_at <= ?`, nanos(now)); err != nil {
			return mapErr("delete expired announcements", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM throttles WHERE clear_at <= ?`, nanos(now)); err != nil {
			return mapErr("delete clear throttles", err)
		}
		return nil
	})
}

// throttlesTx reads the ClearAt of keys in tx.
func throttlesTx(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, keys []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := q.QueryContext(ctx, `SELECT key, clear_at FROM throttles WHERE key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var at int64
		if err := rows.Scan(&k, &at); err != nil {
			return nil, err
		}
		out[k] = fromNanos(at)
	}
	return out, rows.Err()
}

func chargeKeys(cs []store.ThrottleCharge) []string {
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.Key
	}
	return keys
}

func putThrottles(ctx context.Context, tx *sql.Tx, next map[string]time.Time) error {
	for k, at := range next {
		if _, err := tx.ExecContext(ctx, `INSERT INTO throttles (key, clear_at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET clear_at = excluded.clear_at`, k, nanos(at)); err != nil {
			return err
		}
	}
	return nil
}

// ChargeThrottle implements store.Store in one write transaction (the
// single writer serializes concurrent charges).
func (s *Store) ChargeThrottle(ctx context.Context, now time.Time, cs []store.ThrottleCharge) (time.Time, bool, error) {
	if err := store.CheckCharges(cs); err != nil {
		return time.Time{}, false, err
	}
	var retry time.Time
	var ok bool
	err := s.inTx(ctx, "charge throttle", func(tx *sql.Tx) error {
		cur, err := throttlesTx(ctx, tx, chargeKeys(cs))
		if err != nil {
			return mapErr("charge throttle", err)
		}
		var next map[string]time.Time
		next, retry, ok = store.PlanCharge(now, cur, cs)
		if !ok {
			return nil
		}
		return mapErr("charge throttle", putThrottles(ctx, tx, next))
	})
	return retry, ok && err == nil, err
}

// RefundThrottle implements store.Store.
func (s *Store) RefundThrottle(ctx context.Context, now time.Time, cs []store.ThrottleCharge) error {
	if err := store.CheckCharges(cs); err != nil {
		return err
	}
	return s.inTx(ctx, "refund throttle", func(tx *sql.Tx) error {
		cur, err := throttlesTx(ctx, tx, chargeKeys(cs))
		if err != nil {
			return mapErr("refund throttle", err)
		}
		return mapErr("refund throttle", putThrottles(ctx, tx, store.PlanRefund(now, cur, cs)))
	})
}

// Throttles implements store.Store.
func (s *Store) Throttles(ctx context.Context, now time.Time, keys []string) (map[string]time.Time, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	all, err := throttlesTx(ctx, s.r, keys)
	if err != nil {
		return nil, mapErr("throttles", err)
	}
	for k, at := range all {
		if !at.After(now) {
			delete(all, k)
		}
	}
	return all, nil
}
