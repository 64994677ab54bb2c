package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chorus-music/chorus/tracker/store/postgres"
	"github.com/chorus-music/chorus/tracker/store/sqlite"
)

// ErrNotEmpty reports a target database that already holds rows.
var ErrNotEmpty = errors.New("migrate: target database is not empty")

// ErrMismatch reports a copy whose read-back differs from its source.
var ErrMismatch = errors.New("migrate: verification failed")

// table is one table to copy: its columns (the same on both sides) and the
// order that makes its row sequence canonical (a unique key).
type table struct {
	name    string
	cols    []string
	orderBy string
	// identity names a column whose sequence must continue after the
	// copied values.
	identity string
}

// tables in foreign-key order.
var tables = []table{
	{name: "accounts", cols: []string{"name", "password_hash", "created_at"}, orderBy: "name"},
	{name: "sessions", cols: []string{"access_hash", "refresh_hash", "account", "access_expires_at", "refresh_expires_at", "created_at"}, orderBy: "access_hash"},
	{name: "signing_keys", cols: []string{"seq", "id", "public_key", "private_key", "created_at", "retired_at", "endorsed_by", "endorsement"}, orderBy: "seq", identity: "seq"},
	{name: "tracks", cols: []string{"seq", "id", "source_hash", "title", "artist", "album", "duration_ms", "byte_length", "content_type", "chunks", "manifest", "key_id", "signature", "created_at"}, orderBy: "seq", identity: "seq"},
	{name: "track_keys", cols: []string{"track_id", "key"}, orderBy: "track_id"},
	{name: "key_requests", cols: []string{"seq", "account", "track_id", "at", "remote_addr"}, orderBy: "seq", identity: "seq"},
	{name: "tickets", cols: []string{"seq", "peer_id", "account", "key_id", "issued_at", "expires_at"}, orderBy: "seq", identity: "seq"},
	{name: "announcements", cols: []string{"peer_id", "account", "addrs", "announced_at", "expires_at"}, orderBy: "peer_id"},
	{name: "throttles", cols: []string{"key", "clear_at"}, orderBy: "key"},
}

// TableReport is one table's verified copy.
type TableReport struct {
	Table  string
	Rows   int64
	SHA256 string // hex, over the rows in key order, equal on both sides
}

// Copy copies every table of src into dst, which must be empty, and
// verifies the copy. Nothing is written to dst unless every table copies.
func Copy(ctx context.Context, src *sqlite.Store, dst *postgres.Store) ([]TableReport, error) {
	for _, t := range tables {
		var n int64
		if err := dst.Pool().QueryRow(ctx, `SELECT count(*) FROM `+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("migrate: count %s in target: %w", t.name, err)
		}
		if n > 0 {
			return nil, fmt.Errorf("%w: table %s has %d rows; migrate into a new database", ErrNotEmpty, t.name, n)
		}
	}
	var reports []TableReport
	err := pgx.BeginFunc(ctx, dst.Pool(), func(tx pgx.Tx) error {
		for _, t := range tables {
			rows, err := readSQLite(ctx, src.DB(), t)
			if err != nil {
				return err
			}
			cols := t.cols
			if t.name == "tracks" {
				cols = append(append([]string{}, t.cols...), "search_words")
				for i, r := range rows {
					rows[i] = append(r, postgres.SearchText(str(r[3]), str(r[4]), str(r[5])))
				}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, cols, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("migrate: copy %s: %w", t.name, err)
			}
			if t.identity != "" {
				if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE(MAX(%s), 0) + 1, false) FROM %s`,
					t.name, t.identity, t.identity, t.name)); err != nil {
					return fmt.Errorf("migrate: continue %s.%s: %w", t.name, t.identity, err)
				}
			}
		}
		// Verify inside the transaction: a mismatch rolls the copy back.
		for _, t := range tables {
			want, err := digestSQLite(ctx, src.DB(), t)
			if err != nil {
				return err
			}
			got, err := digestPostgres(ctx, tx, t)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%w: table %s: SQLite has %d rows (sha256 %s), PostgreSQL %d (sha256 %s)",
					ErrMismatch, t.name, want.Rows, want.SHA256, got.Rows, got.SHA256)
			}
			reports = append(reports, want)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reports, nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

func selectSQL(t table) string {
	return `SELECT ` + strings.Join(t.cols, ", ") + ` FROM ` + t.name + ` ORDER BY ` + t.orderBy
}

func readSQLite(ctx context.Context, db *sql.DB, t table) ([][]any, error) {
	rows, err := db.QueryContext(ctx, selectSQL(t))
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", t.name, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(t.cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", t.name, err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", t.name, err)
	}
	return out, nil
}

// digest hashes rows one value at a time in a typed, length-prefixed
// encoding, so that no two different tables of values hash alike.
type digest struct {
	rows int64
	buf  []byte
	sum  interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
}

func newDigest() *digest { return &digest{sum: sha256.New()} }

func (d *digest) add(vals []any) error {
	d.buf = d.buf[:0]
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			d.buf = append(d.buf, 'n')
		case int64:
			d.buf = binary.BigEndian.AppendUint64(append(d.buf, 'i'), uint64(x))
		case int32:
			d.buf = binary.BigEndian.AppendUint64(append(d.buf, 'i'), uint64(int64(x)))
		case string:
			d.buf = append(binary.BigEndian.AppendUint64(append(d.buf, 's'), uint64(len(x))), x...)
		case []byte:
			d.buf = append(binary.BigEndian.AppendUint64(append(d.buf, 'b'), uint64(len(x))), x...)
		default:
			return fmt.Errorf("migrate: unexpected value type %T", v)
		}
	}
	d.sum.Write(d.buf) //nolint:errcheck // hashes never fail
	d.rows++
	return nil
}

func (d *digest) report(name string) TableReport {
	return TableReport{Table: name, Rows: d.rows, SHA256: hex.EncodeToString(d.sum.Sum(nil))}
}

func digestSQLite(ctx context.Context, db *sql.DB, t table) (TableReport, error) {
	rows, err := readSQLite(ctx, db, t)
	if err != nil {
		return TableReport{}, err
	}
	d := newDigest()
	for _, r := range rows {
		if err := d.add(r); err != nil {
			return TableReport{}, fmt.Errorf("%w (SQLite table %s)", err, t.name)
		}
	}
	return d.report(t.name), nil
}

func digestPostgres(ctx context.Context, tx pgx.Tx, t table) (TableReport, error) {
	rows, err := tx.Query(ctx, selectSQL(t))
	if err != nil {
		return TableReport{}, fmt.Errorf("migrate: read back %s: %w", t.name, err)
	}
	defer rows.Close()
	d := newDigest()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return TableReport{}, fmt.Errorf("migrate: read back %s: %w", t.name, err)
		}
		if err := d.add(vals); err != nil {
			return TableReport{}, fmt.Errorf("%w (PostgreSQL table %s)", err, t.name)
		}
	}
	if err := rows.Err(); err != nil {
		return TableReport{}, fmt.Errorf("migrate: read back %s: %w", t.name, err)
	}
	return d.report(t.name), nil
}
