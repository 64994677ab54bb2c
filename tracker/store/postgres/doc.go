// Package postgres is the PostgreSQL backend of the tracker's store.Store,
// on pgx (github.com/jackc/pgx/v5) with its connection pool.
//
// Several trackers may share one database and behave as one: every
// compare-and-swap the store promises is a single conditional statement or
// a transaction that locks the rows it reads (refresh-token rotation is an
// UPDATE ... WHERE refresh_hash = old, so of two trackers renewing the same
// token exactly one wins; signing-key rotations serialize on a
// transaction-scoped advisory lock, so the second finds its key no longer
// current; throttle charges lock their rows with SELECT ... FOR UPDATE in
// key order, so they cannot deadlock). Batches go in as arrays, one
// statement and one round trip each (INSERT ... SELECT FROM unnest):
// ticket records, audit entries, and key requests, whose GrantKeys
// statement joins every request of a batch to its session and its track's
// key and inserts the granted ones' audit rows, so a key request costs the
// database a share of one statement and no round trip of its own.
//
// Schema: numbered migrations in migrations.go, applied at Open under an
// advisory lock (trackers starting together migrate once) and recorded in
// schema_migrations; Open refuses a database whose version is newer than
// the binary's. The tables mirror SQLite's, times included (bigint unix
// nanoseconds), with byte-wise "C" collation on keys, so ordering matches
// and chorus migrate copies rows unchanged.
//
// Search: a generated tsvector column (the 'simple' configuration, over the
// words store.SearchWords finds in title, artist and album, with accents
// removed by chorus_unaccent, an IMMUTABLE wrapper over the unaccent
// extension naming its dictionary by schema) and a GIN index; each query
// word becomes a quoted prefix term (word:*), all required, and matches
// come back in ingest order, as from SQLite.
//
// postgres imports only tracker/store, pgx and the standard library; it
// must not import tracker.
package postgres
