package protocol

import (
	"time"
)

// APIVersion is the tracker HTTP API version, the first path element of every
// API route. History: v1 (2026-11) first release; in v1 since 2026-12,
// StartRequest's Username, Password and Network and StartResponse's
// Network (older clients send none of them; a tracker from before answers
// 400 to a request with them, and the client falls back).
const APIVersion = "v1"

// Tracker HTTP API routes. Routes marked public need no access token; all
// others need "Authorization: Bearer <access token>" and answer 401 without a
// valid, unexpired one.
const (
	PathLogin     = "/v1/login"                // POST LoginRequest -> Session (public)
	PathRenew     = "/v1/renew"                // POST RenewRequest -> Session (public: the refresh token is the credential)
	PathLogout    = "/v1/logout"               // POST -> 204
	PathKeys      = "/v1/keys"                 // GET -> SigningKeys (public)
	PathTracks    = "/v1/tracks"               // GET ?limit=&offset= -> TrackList
	PathSearch    = "/v1/search"               // GET ?q=&limit= -> TrackList
	PathManifest  = "/v1/tracks/{id}/manifest" // GET -> SignedManifest
	PathTrackKey  = "/v1/tracks/{id}/key"      // GET -> TrackKeyResponse
	PathNetwork   = "/v1/network"              // GET -> NetworkInfo (origins and bootstrap peers)
	PathTicket    = "/v1/tickets"              // POST TicketRequest -> Ticket
	PathAnnounce  = "/v1/bootstrap"            // POST AnnounceRequest -> 204 (an admitted node offers itself as a bootstrap peer)
	PathHealth    = "/healthz"                 // GET -> 200 "ok" (public)
	PathMetrics   = "/metrics"                 // GET Prometheus text (public)
	PathChunkBase = "/chunks/"                 // origin: GET /chunks/{cid} (public; ciphertext only)
	// PathStart is what a play needs from the tracker in one round trip:
	// POST StartRequest -> StartResponse (public: the credential is the
	// access token, or one in the body: a refresh token, renewed on the
	// way, or a username and password, logged in on the way).
	PathStart = "/v1/tracks/{id}/start"
)

// StartRequest may carry a credential for a client without a valid access
// token, so that neither a renewal nor a login costs a round trip of its
// own: the refresh token of a session whose access token expired (a
// restarted client), or a username and password (a client without a saved
// session). At most one of the two; with a username and password the
// access token is not looked at.
//
// A login through PathStart is a login as through PathLogin: the same
// checks, the same throttles (a failure counts, a throttled one is
// answered 429 with Retry-After), the same argon2id; 401 for a bad
// username or password. For an unknown track the credential is checked
// and the answer is 404 with no session opened. A tracker older than the
// username and password fields answers 400 (unknown field): log in through
// PathLogin instead.
//
// With Network set the answer also carries the network list (as GET
// PathNetwork gives it), so a process that knows only the tracker's URL
// learns its origins in the same round trip. A tracker older than the
// field answers 400 (unknown field).
type StartRequest struct {
	RefreshToken string `json:"refresh_token,omitempty"`
	Username     string `json:"username,omitempty"`
	Password     string `json:"password,omitempty"`
	Network      bool   `json:"network,omitempty"`
}

// StartResponse is a track's signed manifest and content key, the session
// the request opened (a login) or renewed, when it did, and the network
// list, when asked for.
type StartResponse struct {
	Manifest SignedManifest   `json:"manifest"`
	Key      TrackKeyResponse `json:"key"`
	Session  *Session         `json:"session,omitempty"`
	Network  *NetworkInfo     `json:"network,omitempty"`
}

// Error is the JSON body of every 4xx and 5xx answer from the tracker.
type Error struct {
	Error string `json:"error"`          // human-readable message
	Code  string `json:"code,omitempty"` // machine-readable code, e.g. "unauthorized", "rate_limited", "not_found", "bad_request"
}

// Error codes used in Error.Code.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeRateLimited  = "rate_limited"
	CodeInternal     = "internal"
)

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// RenewRequest is the body of POST /v1/renew.
type RenewRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// Session is what login and renew return. Access tokens are short-lived
// (minutes); the refresh token lives longer and is rotated on every renew.
type Session struct {
	Account          string    `json:"account"`
	AccessToken      string    `json:"access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

// SigningKey is one of the tracker's ed25519 public keys. Keys rotate: each
// key after the first carries an endorsement, the signature of the previous
// key over EndorsementMessage(new key), so a client that pinned any earlier
// key can follow the chain to the current one.
type SigningKey struct {
	KeyID       string    `json:"key_id"`
	PublicKey   []byte    `json:"public_key"` // 32 bytes, base64 in JSON
	CreatedAt   time.Time `json:"created_at"`
	Retired     bool      `json:"retired"`               // retired keys sign nothing new but still verify
	EndorsedBy  string    `json:"endorsed_by,omitempty"` // key ID of the previous key
	Endorsement []byte    `json:"endorsement,omitempty"` // signature by EndorsedBy over EndorsementMessage(PublicKey)
}

// SigningKeys is the body of GET /v1/keys, oldest key first.
type SigningKeys struct {
	Keys []SigningKey `json:"keys"`
}

// TrackSummary is a catalog entry as listed and searched.
type TrackSummary struct {
	ID          string `json:"id"` // track ID: CID of the canonical unsigned manifest
	Title       string `json:"title"`
	Artist      string `json:"artist"`
	Album       string `json:"album"`
	DurationMS  int64  `json:"duration_ms"`
	ByteLength  int64  `json:"byte_length"`
	ContentType string `json:"content_type"`
	Chunks      int    `json:"chunks"`
}

// TrackList is the body of GET /v1/tracks and GET /v1/search.
type TrackList struct {
	Tracks []TrackSummary `json:"tracks"`
	Total  int            `json:"total"` // total matches, for paging
}

// SignedManifest is the body of GET /v1/tracks/{id}/manifest: the canonical
// manifest bytes (whose CID is the track ID) with the tracker's signature
// beside them. Verify with catalog.VerifyManifest.
type SignedManifest struct {
	TrackID   string `json:"track_id"`
	Manifest  []byte `json:"manifest"` // canonical encoding, base64 in JSON
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"`
}

// TrackKeyResponse is the body of GET /v1/tracks/{id}/key.
type TrackKeyResponse struct {
	TrackID string `json:"track_id"`
	Key     []byte `json:"key"` // catalog.TrackKey in its binary form (48 bytes), base64 in JSON
}

// NetworkInfo is the body of GET /v1/network.
type NetworkInfo struct {
	Origins   []string `json:"origins"`   // base URLs, e.g. https://127.0.0.1:4433
	Bootstrap []string `json:"bootstrap"` // multiaddrs ending in /p2p/<peer ID>, DHT servers first
	// DHTServers are the always-on DHT servers among Bootstrap (the same
	// entries): clients put their records to them and ask them first.
	// Older clients ignore the field and treat Bootstrap as before.
	DHTServers []string `json:"dht_servers,omitempty"`
}

// TicketRequest is the body of POST /v1/tickets.
type TicketRequest struct {
	PeerID string `json:"peer_id"`
}

// AnnounceRequest is the body of POST /v1/bootstrap: a node offering itself
// as a bootstrap peer. Its peer ID must hold a valid ticket for the caller's
// account.
type AnnounceRequest struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"` // multiaddrs without /p2p/
}

// Limits on request bodies the tracker accepts.
const (
	MaxRequestBody = 64 << 10
	MaxUsernameLen = 64
	MaxPasswordLen = 1024
)
