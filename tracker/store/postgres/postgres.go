package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-music/chorus/tracker/store"
)

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// DefaultMaxConns is the pool size unless the URL sets pool_max_conns.
const DefaultMaxConns = 16

// IsURL reports whether s names a PostgreSQL database (postgres:// or
// postgresql://) rather than a file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (postgres://user:pass@host/db?...,
// pool settings such as pool_max_conns allowed), checks the connection and
// applies any pending migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, fmt.Errorf("%w: %s", ErrURL, redactErr(err))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// An unreachable server fails Open in seconds, not minutes.
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (the CPU count, at least 4) leaves a busy tracker
		// waiting for connections while each holds a commit's WAL flush;
		// more connections in flight share flushes.
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", describe(cfg), err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", describe(cfg), err)
	}
	return &Store{pool: pool}, nil
}

// describe names the server and database for messages, without secrets.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("database %q on %s:%d as %q", c.Database, c.Host, c.Port, c.User)
}

func redactErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j >= 0 {
			msg = msg[:i+3] + "…" + msg[i+j:]
		}
	}
	return msg
}

// Pool returns the connection pool, for tools that read the tables
// directly (chorus migrate) and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() error {
	if !s.closed.Swap(true) {
		s.pool.Close()
	}
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// mapErr turns pgx and server errors into store sentinels.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w: %v", op, store.ErrExists, err)
		case "23503", "23502", "22021", "22P05": // foreign key, not null, bad character (NUL)
			return fmt.Errorf("%s: %w: %v", op, store.ErrInvalid, err)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// nanos stores t as unix nanoseconds; the zero time is 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nullNanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func fromNull(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return fromNanos(*n)
}

// exec runs one statement and returns the rows it affected.
func (s *Store) exec(ctx context.Context, op, q string, args ...any) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, mapErr(op, err)
	}
	return tag.RowsAffected(), nil
}

// inTx runs f in a read-committed transaction.
func (s *Store) inTx(ctx context.Context, op string, opts pgx.TxOptions, f func(tx pgx.Tx) error) error {
	if err := s.check(); err != nil {
		return err
	}
	err := pgx.BeginTxFunc(ctx, s.pool, opts, f)
	if err != nil && !isStoreErr(err) {
		return mapErr(op, err)
	}
	return err
}

// isStoreErr reports an error already classified.
func isStoreErr(err error) bool {
	for _, e := range []error{store.ErrNotFound, store.ErrExists, store.ErrConflict, store.ErrInvalid, store.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// CreateAccount implements store.Store.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	if a.Name == "" || a.PasswordHash == "" {
		return fmt.Errorf("create account: %w: empty name or hash", store.ErrInvalid)
	}
	_, err := s.exec(ctx, "create account", `INSERT INTO accounts (name, password_hash, created_at) VALUES ($1, $2, $3)`,
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
	err := s.pool.QueryRow(ctx, `SELECT password_hash, created_at FROM accounts WHERE name = $1`, name).Scan(&a.PasswordHash, &created)
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
		VALUES ($1, $2, $3, $4, $5, $6)`,
		se.AccessHash, se.RefreshHash, se.Account, nanos(se.AccessExpiresAt), nanos(se.RefreshExpiresAt), nanos(se.CreatedAt))
	return err
}

const sessionCols = `access_hash, refresh_hash, account, access_expires_at, refresh_expires_at, created_at`

func (s *Store) sessionBy(ctx context.Context, col string, hash []byte) (store.Session, error) {
	var se store.Session
	if err := s.check(); err != nil {
		return se, err
	}
	if len(hash) == 0 {
		return se, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	var ae, re, c int64
	err := s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE `+col+` = $1`, hash).
		Scan(&se.AccessHash, &se.RefreshHash, &se.Account, &ae, &re, &c)
	se.AccessExpiresAt, se.RefreshExpiresAt, se.CreatedAt = fromNanos(ae), fromNanos(re), fromNanos(c)
	return se, mapErr("session", err)
}

// SessionByAccess implements store.Store.
func (s *Store) SessionByAccess(ctx context.Context, hash []byte) (store.Session, error) {
	return s.sessionBy(ctx, "access_hash", hash)
}

// SessionByRefresh implements store.Store.
func (s *Store) SessionByRefresh(ctx context.Context, hash []byte) (store.Session, error) {
	return s.sessionBy(ctx, "refresh_hash", hash)
}

// RotateSession implements store.Store with one conditional UPDATE: of
// concurrent rotations of one token, on any number of trackers, the first
// to commit wins and the others match no row.
func (s *Store) RotateSession(ctx context.Context, oldRefresh []byte, next store.Session) error {
	if len(next.AccessHash) == 0 || len(next.RefreshHash) == 0 {
		return fmt.Errorf("rotate session: %w: empty hash", store.ErrInvalid)
	}
	n, err := s.exec(ctx, "rotate session", `UPDATE sessions SET access_hash = $1, refresh_hash = $2,
		access_expires_at = $3, refresh_expires_at = $4 WHERE refresh_hash = $5`,
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
	n, err := s.exec(ctx, "delete session", `DELETE FROM sessions WHERE access_hash = $1`, accessHash)
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
	n, err := s.exec(ctx, "delete expired sessions", `DELETE FROM sessions WHERE refresh_expires_at <= $1`, nanos(now))
	return int(n), err
}

// SearchText is what the search index of a track is built from: the
// words of its title, artist and album.
func SearchText(title, artist, album string) string {
	return strings.Join(store.SearchWords(title+" "+artist+" "+album), " ")
}

// PutTrack implements store.Store: track row (with its search words) and
// key row in one transaction.
func (s *Store) PutTrack(ctx context.Context, t store.Track, key []byte) error {
	if t.ID == "" || t.SourceHash == "" || len(t.Manifest) == 0 || len(t.Signature) == 0 || t.KeyID == "" || len(key) == 0 {
		return fmt.Errorf("put track: %w: missing field", store.ErrInvalid)
	}
	return s.inTx(ctx, "put track", pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tracks
			(id, source_hash, title, artist, album, duration_ms, byte_length, content_type, chunks,
			 manifest, key_id, signature, created_at, search_words)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			t.ID, t.SourceHash, t.Title, t.Artist, t.Album, t.DurationMS, t.ByteLength, t.ContentType, t.Chunks,
			t.Manifest, t.KeyID, t.Signature, nanos(t.CreatedAt), SearchText(t.Title, t.Artist, t.Album)); err != nil {
			return mapErr("put track", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO track_keys (track_id, key) VALUES ($1, $2)`, t.ID, key); err != nil {
			return mapErr("put track key", err)
		}
		return nil
	})
}

const metaCols = `t.id, t.title, t.artist, t.album, t.duration_ms, t.byte_length, t.content_type, t.chunks`

func scanMeta(row pgx.Row, extra ...any) (store.TrackMeta, error) {
	var m store.TrackMeta
	dest := append([]any{&m.ID, &m.Title, &m.Artist, &m.Album, &m.DurationMS, &m.ByteLength, &m.ContentType, &m.Chunks}, extra...)
	return m, row.Scan(dest...)
}

func (s *Store) trackBy(ctx context.Context, col, v string) (store.Track, error) {
	var t store.Track
	if err := s.check(); err != nil {
		return t, err
	}
	var created int64
	row := s.pool.QueryRow(ctx, `SELECT `+metaCols+`, t.source_hash, t.manifest, t.key_id, t.signature, t.created_at
		FROM tracks t WHERE t.`+col+` = $1`, v)
	m, err := scanMeta(row, &t.SourceHash, &t.Manifest, &t.KeyID, &t.Signature, &created)
	t.TrackMeta, t.CreatedAt = m, fromNanos(created)
	return t, mapErr("track", err)
}

// Track implements store.Store.
func (s *Store) Track(ctx context.Context, id string) (store.Track, error) {
	return s.trackBy(ctx, "id", id)
}

// TrackBySource implements store.Store.
func (s *Store) TrackBySource(ctx context.Context, sourceHash string) (store.Track, error) {
	return s.trackBy(ctx, "source_hash", sourceHash)
}

// TrackKey implements store.Store.
func (s *Store) TrackKey(ctx context.Context, id string) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var key []byte
	err := s.pool.QueryRow(ctx, `SELECT key FROM track_keys WHERE track_id = $1`, id).Scan(&key)
	return key, mapErr("track key", err)
}

func collectMeta(rows pgx.Rows) ([]store.TrackMeta, error) {
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

// readOnly is a repeatable-read snapshot, so a page and its total agree.
var readOnly = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// ListTracks implements store.Store.
func (s *Store) ListTracks(ctx context.Context, limit, offset int) ([]store.TrackMeta, int, error) {
	if err := checkPage(limit, offset); err != nil {
		return nil, 0, err
	}
	var out []store.TrackMeta
	var total int
	err := s.inTx(ctx, "list tracks", readOnly, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tracks`).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+metaCols+` FROM tracks t ORDER BY t.seq LIMIT $1 OFFSET $2`, limit, offset)
		if err != nil {
			return err
		}
		out, err = collectMeta(rows)
		return err
	})
	return out, total, err
}

// tsQuery is the SQL expression for the query whose words are $1 (a text
// array): every word a quoted prefix term, all required. quote_literal
// quotes each word, so no input is read as tsquery syntax (and
// store.SearchTerms leaves only letters, digits and marks anyway).
// A word that is nothing but accents (a lone combining mark) is empty
// once unaccented and matches nothing, so the query matches nothing.
const tsQuery = `(SELECT CASE WHEN bool_or(u = '') THEN NULL
		ELSE to_tsquery('simple'::regconfig, string_agg(quote_literal(u) || ':*', ' & ')) END
	FROM (SELECT chorus_unaccent(w) AS u FROM unnest($1::text[]) AS w) AS words)`

// SearchTracks implements store.Store with tsvector prefix queries.
func (s *Store) SearchTracks(ctx context.Context, query string, limit, offset int) ([]store.TrackMeta, int, error) {
	if err := checkPage(limit, offset); err != nil {
		return nil, 0, err
	}
	terms := store.SearchTerms(query)
	if len(terms) == 0 {
		return nil, 0, s.check()
	}
	var out []store.TrackMeta
	var total int
	err := s.inTx(ctx, "search tracks", readOnly, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tracks t WHERE t.search @@ `+tsQuery, terms).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+metaCols+` FROM tracks t WHERE t.search @@ `+tsQuery+`
			ORDER BY t.seq LIMIT $2 OFFSET $3`, terms, limit, offset)
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
	return s.inTx(ctx, "put signing key", pgx.TxOptions{}, func(tx pgx.Tx) error { return insertKey(ctx, tx, k) })
}

func insertKey(ctx context.Context, tx pgx.Tx, k store.SigningKey) error {
	var endorsedBy *string
	if k.EndorsedBy != "" {
		endorsedBy = &k.EndorsedBy
	}
	_, err := tx.Exec(ctx, `INSERT INTO signing_keys
		(id, public_key, private_key, created_at, retired_at, endorsed_by, endorsement) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.PublicKey, k.PrivateKey, nanos(k.CreatedAt), nullNanos(k.RetiredAt), endorsedBy, k.Endorsement)
	return mapErr("put signing key", err)
}

// SigningKeys implements store.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, public_key, private_key, created_at, retired_at, endorsed_by, endorsement
		FROM signing_keys ORDER BY seq`)
	if err != nil {
		return nil, mapErr("signing keys", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created int64
		var retired *int64
		var endorsedBy *string
		if err := rows.Scan(&k.ID, &k.PublicKey, &k.PrivateKey, &created, &retired, &endorsedBy, &k.Endorsement); err != nil {
			return nil, mapErr("signing keys", err)
		}
		k.CreatedAt, k.RetiredAt = fromNanos(created), fromNull(retired)
		if endorsedBy != nil {
			k.EndorsedBy = *endorsedBy
		}
		out = append(out, k)
	}
	return out, mapErr("signing keys", rows.Err())
}

// RotateSigningKey implements store.Store. Rotations take an advisory
// lock first, so two trackers rotating at once serialize and the second
// finds the key it meant to retire no longer current.
func (s *Store) RotateSigningKey(ctx context.Context, current string, next store.SigningKey) error {
	if next.ID == "" || len(next.PublicKey) == 0 || len(next.PrivateKey) == 0 || !next.RetiredAt.IsZero() {
		return fmt.Errorf("rotate signing key: %w: missing field or retired", store.ErrInvalid)
	}
	return s.inTx(ctx, "rotate signing key", pgx.TxOptions{}, func(tx pgx.Tx) error {
		// Serialize rotations: a transaction-scoped lock on the key table's
		// rotation (row locks alone would let a rotation that read the old
		// newest key insert beside another's new key).
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock+1); err != nil {
			return mapErr("rotate signing key", err)
		}
		tag, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1
			WHERE id = $2 AND retired_at IS NULL AND seq = (SELECT MAX(seq) FROM signing_keys)`,
			nanos(next.CreatedAt), current)
		if err != nil {
			return mapErr("rotate signing key", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("rotate signing key: %w: %q is not the current key", store.ErrConflict, current)
		}
		return insertKey(ctx, tx, next)
	})
}

// LogKeyRequests implements store.Store with one INSERT of the batch as
// arrays: one round trip (a COPY takes two, and a goroutine), its own
// transaction. WITH ORDINALITY and ORDER BY keep the batch's order in seq.
func (s *Store) LogKeyRequests(ctx context.Context, rs []store.KeyRequest) error {
	if err := s.check(); err != nil || len(rs) == 0 {
		return err
	}
	accounts, tracks, remotes := make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs))
	ats := make([]int64, len(rs))
	for i, r := range rs {
		accounts[i], tracks[i], ats[i], remotes[i] = r.Account, r.TrackID, nanos(r.At), r.RemoteAddr
	}
	_, err := s.exec(ctx, "log key requests", `INSERT INTO key_requests (account, track_id, at, remote_addr)
		SELECT a, t, at, r FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY AS v(a, t, at, r, n)
		ORDER BY n`, accounts, tracks, ats, remotes)
	return err
}

// grantKeys is GrantKeys' one statement: the requests as arrays, each
// joined to its session and its track's key; the granted ones inserted
// into the audit log in the batch's order (the data-modifying CTE runs
// whether or not it is read); every request's judgement returned in
// order.
const grantKeys = `WITH r AS (
	SELECT * FROM unnest($1::bytea[], $2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY AS r(h, track, at, remote, n)
), j AS (
	SELECT r.n, r.track, r.at, r.remote, s.account, s.access_expires_at AS expires, k.key,
		s.account IS NOT NULL AND s.access_expires_at > r.at AND k.key IS NOT NULL AS granted
	FROM r
	LEFT JOIN sessions s ON s.access_hash = r.h
	LEFT JOIN track_keys k ON k.track_id = r.track COLLATE "C"
), ins AS (
	INSERT INTO key_requests (account, track_id, at, remote_addr)
	SELECT account, track, at, remote FROM j WHERE granted ORDER BY n
)
SELECT granted, account, expires, CASE WHEN granted THEN key END FROM j ORDER BY n`

// GrantKeys implements store.Store in one statement: one round trip and
// one commit for the whole batch.
func (s *Store) GrantKeys(ctx context.Context, gs []store.KeyGrant) ([]store.KeyGrantResult, error) {
	if err := s.check(); err != nil || len(gs) == 0 {
		return nil, err
	}
	hashes, tracks, remotes := make([][]byte, len(gs)), make([]string, len(gs)), make([]string, len(gs))
	ats := make([]int64, len(gs))
	for i, g := range gs {
		hashes[i], tracks[i], ats[i], remotes[i] = g.AccessHash, g.TrackID, nanos(g.At), g.RemoteAddr
	}
	rows, err := s.pool.Query(ctx, grantKeys, hashes, tracks, ats, remotes)
	if err != nil {
		return nil, mapErr("grant keys", err)
	}
	defer rows.Close()
	out := make([]store.KeyGrantResult, 0, len(gs))
	for rows.Next() {
		var r store.KeyGrantResult
		var account *string
		var expires *int64
		if err := rows.Scan(&r.Granted, &account, &expires, &r.Key); err != nil {
			return nil, mapErr("grant keys", err)
		}
		if account != nil {
			r.Found, r.Account, r.AccessExpiresAt = true, *account, fromNull(expires)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("grant keys", err)
	}
	if len(out) != len(gs) {
		return nil, fmt.Errorf("postgres: grant keys: %d results for %d requests", len(out), len(gs))
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
	rows, err := s.pool.Query(ctx, `SELECT account, track_id, at, remote_addr FROM key_requests
		WHERE $1 = '' OR account = $1 ORDER BY seq DESC LIMIT $2`, account, limit)
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

// PutTickets implements store.Store with one INSERT of the batch as
// arrays, as LogKeyRequests.
func (s *Store) PutTickets(ctx context.Context, ts []store.TicketRecord) error {
	for _, t := range ts {
		if t.PeerID == "" || t.Account == "" {
			return fmt.Errorf("put tickets: %w: empty peer or account", store.ErrInvalid)
		}
	}
	if err := s.check(); err != nil || len(ts) == 0 {
		return err
	}
	peers, accounts, keys := make([]string, len(ts)), make([]string, len(ts)), make([]string, len(ts))
	issued, expires := make([]int64, len(ts)), make([]int64, len(ts))
	for i, t := range ts {
		peers[i], accounts[i], keys[i], issued[i], expires[i] = t.PeerID, t.Account, t.KeyID, nanos(t.IssuedAt), nanos(t.ExpiresAt)
	}
	_, err := s.exec(ctx, "put tickets", `INSERT INTO tickets (peer_id, account, key_id, issued_at, expires_at)
		SELECT p, a, k, i, e FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) WITH ORDINALITY AS v(p, a, k, i, e, n)
		ORDER BY n`, peers, accounts, keys, issued, expires)
	return err
}

// LiveTicket implements store.Store.
func (s *Store) LiveTicket(ctx context.Context, account, peerID string, now time.Time) (store.TicketRecord, error) {
	t := store.TicketRecord{PeerID: peerID, Account: account}
	if err := s.check(); err != nil {
		return t, err
	}
	var issued, expires int64
	err := s.pool.QueryRow(ctx, `SELECT key_id, issued_at, expires_at FROM tickets
		WHERE account = $1 AND peer_id = $2 AND expires_at > $3 ORDER BY expires_at DESC LIMIT 1`,
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
		VALUES ($1, $2, $3, $4, $5)
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
	rows, err := s.pool.Query(ctx, `SELECT peer_id, account, addrs, announced_at, expires_at FROM announcements
		WHERE expires_at > $1 ORDER BY announced_at DESC, peer_id LIMIT $2`, nanos(now), limit)
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
			return nil, fmt.Errorf("postgres: announcements: peer %s: corrupt addrs: %w", a.PeerID, err)
		}
		a.AnnouncedAt, a.ExpiresAt = fromNanos(at), fromNanos(exp)
		out = append(out, a)
	}
	return out, mapErr("announcements", rows.Err())
}

// DeleteExpired implements store.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) error {
	return s.inTx(ctx, "delete expired", pgx.TxOptions{}, func(tx pgx.Tx) error {
		for _, q := range []string{
			`DELETE FROM tickets WHERE expires_at <= $1`,
			`DELETE FROM announcements WHERE expires_at <= $1`,
			`DELETE FROM throttles WHERE clear_at <= $1`,
		} {
			if _, err := tx.Exec(ctx, q, nanos(now)); err != nil {
				return mapErr("delete expired", err)
			}
		}
		return nil
	})
}

// lockThrottles makes sure a row exists for every key and locks them all,
// in key order (so concurrent charges over overlapping keys cannot
// deadlock), returning each key's ClearAt.
func lockThrottles(ctx context.Context, tx pgx.Tx, cs []store.ThrottleCharge) (map[string]time.Time, error) {
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.Key
	}
	sort.Strings(keys)
	if _, err := tx.Exec(ctx, `INSERT INTO throttles (key, clear_at) SELECT k, 0 FROM unnest($1::text[]) AS k ORDER BY k
		ON CONFLICT (key) DO NOTHING`, keys); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT key, clear_at FROM throttles WHERE key = ANY($1) ORDER BY key FOR UPDATE`, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]time.Time, len(keys))
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

func putThrottles(ctx context.Context, tx pgx.Tx, next map[string]time.Time) error {
	keys := make([]string, 0, len(next))
	ats := make([]int64, 0, len(next))
	for k, at := range next {
		keys = append(keys, k)
		ats = append(ats, nanos(at))
	}
	_, err := tx.Exec(ctx, `UPDATE throttles t SET clear_at = v.at FROM unnest($1::text[], $2::bigint[]) AS v(k, at) WHERE t.key = v.k`, keys, ats)
	return err
}

// ChargeThrottle implements store.Store: the keys' rows are locked, so
// charges from any number of trackers apply one after another.
func (s *Store) ChargeThrottle(ctx context.Context, now time.Time, cs []store.ThrottleCharge) (time.Time, bool, error) {
	if err := store.CheckCharges(cs); err != nil {
		return time.Time{}, false, err
	}
	var retry time.Time
	var ok bool
	err := s.inTx(ctx, "charge throttle", pgx.TxOptions{}, func(tx pgx.Tx) error {
		cur, err := lockThrottles(ctx, tx, cs)
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
	return s.inTx(ctx, "refund throttle", pgx.TxOptions{}, func(tx pgx.Tx) error {
		cur, err := lockThrottles(ctx, tx, cs)
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
	rows, err := s.pool.Query(ctx, `SELECT key, clear_at FROM throttles WHERE key = ANY($1) AND clear_at > $2`, keys, nanos(now))
	if err != nil {
		return nil, mapErr("throttles", err)
	}
	defer rows.Close()
	out := make(map[string]time.Time, len(keys))
	for rows.Next() {
		var k string
		var at int64
		if err := rows.Scan(&k, &at); err != nil {
			return nil, mapErr("throttles", err)
		}
		out[k] = fromNanos(at)
	}
	return out, mapErr("throttles", rows.Err())
}
