// Package store defines the tracker's persistence contract: the Store
// interface, its record types and its sentinel errors.
//
// A Store keeps accounts (with password hashes, never passwords), sessions
// (by the SHA-256 of their tokens, never the tokens), the catalog (tracks with
// their canonical manifest, signature and content key, plus a full-text
// index over title, artist and album), the tracker's signing keys, an audit
// log of track-key requests (who, which track, when, from where; never the
// key), the admission tickets the tracker issued, and bootstrap
// announcements with an expiry, and login throttle state (ChargeThrottle:
// per key, the instant its debt of failed attempts is paid off, charged
// atomically so that trackers sharing a store share the limits).
//
// Backends live in subpackages (store/sqlite, store/postgres) and must all
// pass the shared suite in store/storetest. Backends hold no policy:
// expiry, rate limits and validation belong to the tracker, which passes
// in the times and limits it wants compared; the arithmetic they share is
// in PlanCharge and PlanRefund.
//
// store imports only the standard library. It must not import tracker,
// node, client or origin.
package store
