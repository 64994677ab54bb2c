package store

import (
	"context"
	"time"
)

// Store is the tracker's persistence. Implementations are safe for
// concurrent use. Every method that writes more than one row does so in one
// transaction: its effects become visible all at once or not at all.
type Store interface {
	// CreateAccount adds an account; ErrExists if the name is taken.
	CreateAccount(ctx context.Context, a Account) error
	// Account returns the named account or ErrNotFound.
	Account(ctx context.Context, name string) (Account, error)

	// CreateSession stores a new session; ErrExists if either token hash is
	// already in use.
	CreateSession(ctx context.Context, s Session) error
	// SessionByAccess returns the session whose access token hashes to
	// hash, expired or not (the caller compares times), or ErrNotFound.
	SessionByAccess(ctx context.Context, hash []byte) (Session, error)
	// SessionByRefresh returns the session whose refresh token hashes to
	// hash, or ErrNotFound.
	SessionByRefresh(ctx context.Context, hash []byte) (Session, error)
	// RotateSession replaces, in the session currently holding refresh
	// token hash oldRefresh, both token hashes and expiries with those of
	// next (next.Account and next.CreatedAt are ignored). ErrNotFound if no
	// session holds oldRefresh (so of two concurrent renewals with the same
	// token exactly one wins); ErrExists if a new hash collides.
	RotateSession(ctx context.Context, oldRefresh []byte, next Session) error
	// DeleteSession removes the session whose access token hashes to hash;
	// ErrNotFound if there is none.
	DeleteSession(ctx context.Context, accessHash []byte) error
	// DeleteExpiredSessions removes sessions whose refresh token expired at
	// or before now and reports how many it removed.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// PutTrack adds a track, its content key and its search index entry in
	// one transaction; ErrExists if the track ID or source hash is taken.
	PutTrack(ctx context.Context, t Track, key []byte) error
	// Track returns a track by ID or ErrNotFound.
	Track(ctx context.Context, id string) (Track, error)
	// TrackBySource returns the track ingested from the source whose hash
	// is sourceHash, or ErrNotFound.
	TrackBySource(ctx context.Context, sourceHash string) (Track, error)
	// TrackKey returns a track's content key or ErrNotFound.
	TrackKey(ctx context.Context, id string) ([]byte, error)
	// ListTracks returns up to limit tracks in ingest order after skipping
	// offset, and the total number of tracks.
	ListTracks(ctx context.Context, limit, offset int) ([]TrackMeta, int, error)
	// SearchTracks returns tracks whose title, artist or album contain, for
	// every word of query, a word starting with it (case-insensitive), in
	// ingest order, and the total number of matches. Any query string is
	// safe: it is never interpreted as search syntax. A query with no words
	// matches nothing.
	SearchTracks(ctx context.Context, query string, limit, offset int) ([]TrackMeta, int, error)

	// PutSigningKey adds a key; ErrExists if its ID is taken.
	PutSigningKey(ctx context.Context, k SigningKey) error
	// SigningKeys returns every key, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey, in one transaction, marks key current retired at
	// next.CreatedAt and adds next. ErrConflict if current is not the
	// newest key or is already retired.
	RotateSigningKey(ctx context.Context, current string, next SigningKey) error

	// LogKeyRequests appends entries to the key-request audit log, in
	// order, in one transaction (one statement where the backend can).
	LogKeyRequests(ctx context.Context, rs []KeyRequest) error
	// GrantKeys judges key requests, in one transaction (one statement
	// where the backend can): for each, it reads the session holding the
	// request's access token hash and the track's content key, and grants
	// the request when the session exists and is unexpired at the
	// request's At (At before AccessExpiresAt) and the track exists.
	// Every granted request gets its audit entry (the session's account,
	// the track, At, RemoteAddr), in order, in the same transaction, so no
	// key is granted without its audit row. The results are in gs's
	// order.
	GrantKeys(ctx context.Context, gs []KeyGrant) ([]KeyGrantResult, error)
	// KeyRequests returns the newest limit audit entries for account (all
	// accounts when empty), newest first.
	KeyRequests(ctx context.Context, account string, limit int) ([]KeyRequest, error)

	// PutTickets records tickets the tracker issued, in one transaction
	// (one statement where the backend can); ErrInvalid, and nothing
	// written, if any lacks its peer or account.
	PutTickets(ctx context.Context, ts []TicketRecord) error
	// LiveTicket returns the latest-expiring ticket issued to account for
	// peerID that is still valid at now, or ErrNotFound.
	LiveTicket(ctx context.Context, account, peerID string, now time.Time) (TicketRecord, error)

	// PutAnnouncement records (or replaces, by peer ID) a bootstrap
	// announcement.
	PutAnnouncement(ctx context.Context, a Announcement) error
	// Announcements returns up to limit announcements unexpired at now,
	// most recently announced first.
	Announcements(ctx context.Context, now time.Time, limit int) ([]Announcement, error)
	// DeleteExpired removes tickets and announcements expired at now, and
	// throttles clear at now.
	DeleteExpired(ctx context.Context, now time.Time) error

	// ChargeThrottle charges one attempt to every key in cs, or to none, in
	// one transaction, so that trackers sharing the store share the limit.
	// A key's state is the instant its debt is paid off (ClearAt; debts
	// drain at one second per second); charging sets it to
	// max(ClearAt, now) + Cost. If that would put any key's debt above its
	// Limit, nothing is charged, ok is false and retryAt is the earliest
	// instant at which the same charge would be accepted.
	ChargeThrottle(ctx context.Context, now time.Time, cs []ThrottleCharge) (retryAt time.Time, ok bool, err error)
	// RefundThrottle takes Cost back from every key in cs (never below
	// now), e.g. for an attempt charged up front that succeeded.
	RefundThrottle(ctx context.Context, now time.Time, cs []ThrottleCharge) error
	// Throttles returns the ClearAt instant of each key that has a debt at
	// now; keys without one are absent.
	Throttles(ctx context.Context, now time.Time, keys []string) (map[string]time.Time, error)

	// Close releases the store. Calls after Close return ErrClosed.
	Close() error
}

// Account is a user account.
type Account struct {
	Name         string
	PasswordHash string // PHC-style encoded hash; never the password
	CreatedAt    time.Time
}

// Session is a logged-in session: one access token and one refresh token,
// both kept only as SHA-256 hashes.
type Session struct {
	Account          string
	AccessHash       []byte
	AccessExpiresAt  time.Time
	RefreshHash      []byte
	RefreshExpiresAt time.Time
	CreatedAt        time.Time
}

// TrackMeta is what listing and search return for a track.
type TrackMeta struct {
	ID          string // CID of the canonical manifest
	Title       string
	Artist      string
	Album       string
	DurationMS  int64
	ByteLength  int64
	ContentType string
	Chunks      int
}

// Track is a catalog entry with its signed manifest. Its content key is kept
// apart (PutTrack, TrackKey) so that reading a track never reads its key.
type Track struct {
	TrackMeta
	SourceHash string // catalog.HashSource of the ingested file
	Manifest   []byte // canonical manifest bytes
	KeyID      string // signing key that signed Manifest
	Signature  []byte
	CreatedAt  time.Time
}

// SigningKey is one of the tracker's ed25519 key pairs.
type SigningKey struct {
	ID          string
	PublicKey   []byte
	PrivateKey  []byte
	CreatedAt   time.Time
	RetiredAt   time.Time // zero while the key is current
	EndorsedBy  string    // previous key's ID; empty for the first key
	Endorsement []byte    // previous key's signature over the endorsement message
}

// Retired reports whether the key has been retired.
func (k SigningKey) Retired() bool { return !k.RetiredAt.IsZero() }

// KeyRequest is one audit-log entry: an account fetched a track's key. It
// never holds the key.
type KeyRequest struct {
	Account    string
	TrackID    string
	At         time.Time
	RemoteAddr string
}

// KeyGrant is a request for a track's content key, for GrantKeys.
type KeyGrant struct {
	AccessHash []byte // of the request's access token
	TrackID    string
	At         time.Time // the request's time, for the expiry and the audit entry
	RemoteAddr string    // for the audit entry
}

// KeyGrantResult is GrantKeys' judgement of one KeyGrant.
type KeyGrantResult struct {
	// Granted: the session exists and is unexpired, the track exists,
	// and the audit entry is written.
	Granted bool
	// Found: a session holds the access token; Account and
	// AccessExpiresAt are its own (zero otherwise).
	Found           bool
	Account         string
	AccessExpiresAt time.Time
	// Key is the track's content key when Granted, else nil: a refused
	// request carries no key (a found, unexpired session refused means no
	// such track).
	Key []byte
}

// TicketRecord remembers an admission ticket the tracker issued.
type TicketRecord struct {
	PeerID    string
	Account   string
	KeyID     string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// ThrottleCharge is one key's share of a throttled attempt (see
// Store.ChargeThrottle). A key allows Limit/Cost attempts at once, and one
// more every Cost after that.
type ThrottleCharge struct {
	Key   string
	Cost  time.Duration // debt one attempt adds; > 0
	Limit time.Duration // most debt the key may carry; >= Cost
}

// Announcement is a node offering itself as a bootstrap peer.
type Announcement struct {
	PeerID      string
	Account     string
	Addrs       []string // multiaddrs without /p2p/
	AnnouncedAt time.Time
	ExpiresAt   time.Time
}
