// Package tracker is Chorus's central service: accounts and sessions, the
// catalog (listing, search, signed manifests), DRM track keys, the origin
// and bootstrap lists, signed peer admission tickets, and its own public
// signing keys. A Server is an http.Handler serving the API whose routes and
// JSON types are in protocol; Routes lists them from the same table the mux
// is built from. Ingest turns an audio file into a signed, keyed catalog
// entry with its encrypted chunks in a catalog.ChunkSink.
//
// # Authentication
//
// Passwords are kept as argon2id hashes (PHC strings carrying their own
// parameters). Login returns a short-lived access token (AccessTTL) and a
// refresh token (RefreshTTL): 32 random bytes each, base64url, stored only
// as SHA-256 hashes. Renew rotates both tokens (the old refresh token stops
// working); logout deletes the session. Failed logins are throttled by the
// LoginPolicy, per account and client network, per network and per
// account, with the state in the store (ChargeThrottle), so several
// trackers on one database hold one limit; refused attempts get 429 with
// Retry-After. The client network is the IPv4 address or IPv6 /64 of the
// connection's peer, or, from a peer in TrustedProxies only, of the
// rightmost untrusted X-Forwarded-For entry.
//
// # Trust model
//
// The tracker signs manifests and tickets with ed25519 keys published at
// GET /v1/keys. Clients pin the tracker's key set at first login (trust on
// first use) and later accept a new key only through an endorsement chain:
// each key after the first carries its predecessor's signature over
// protocol.EndorsementMessage(new key), and a client adds a key only when
// the endorsing key is already trusted (see VerifyKeyChain). Manifests and
// tickets verify against the pinned and endorsed keys only. RotateKey makes
// a new current key endorsed by the old one and retires the old one;
// retired keys stay published, so manifests and tickets they signed keep
// verifying, and rotation never changes a track ID (the signature travels
// beside the manifest, never inside it). Track keys are served only to
// authenticated sessions, and every key request is written to the audit log
// before the key is sent. Admission tickets are signed by the current key
// and recorded; POST /v1/bootstrap accepts an announcement only from an
// account holding a live recorded ticket for that peer ID.
//
// tracker imports protocol, catalog, internal/clock and its own store
// packages; it must not import node, client or origin.
package tracker
