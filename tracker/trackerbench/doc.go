// Package trackerbench measures a tracker under load over loopback HTTP
// (chorus bench tracker): it starts a tracker.Server on a given store,
// fills it with a small catalog, accounts and sessions, and sends each
// route requests from an open-loop generator: arrivals at a fixed rate,
// each timed from when it was due, not from when a connection was free,
// so a slow tracker shows as latency instead of hiding as a lower rate
// (no coordinated omission). Every phase is bounded by a count and a
// duration; logins are measured closed-loop at the configured argon2id
// cost.
//
// Load goes to 127.0.0.1 only. trackerbench imports tracker, its store
// and catalog/samples; it is not imported by the tracker.
package trackerbench
