// Package client is the listener's side of Chorus: it logs in to the
// tracker, fetches and verifies signed manifests, obtains track keys for an
// authenticated session, and plays tracks as an io.ReadSeekCloser by fetching
// encrypted chunks, verifying each against its CID, and decrypting it.
//
// Trust model: the first successful login pins the tracker's signing keys
// (trust on first use) in the client's data directory. Later, a new key is
// accepted only when a pinned key endorses it (protocol.SigningKey
// endorsement chain). Manifests and admission tickets verify against pinned
// keys only, so neither a peer nor an origin can substitute content.
//
// Chunks come from sources (ChunkSource): origins over HTTP/3, and, when a
// swarm node is attached, peers. The scheduler in client/sched decides which
// source serves which chunk; this package runs it on real time and sockets.
//
// client may import catalog, protocol, node and origin. What builds on it:
// client/daemon (the listener's daemon), sim/cluster, sim/startbench and
// sim/playbench (simulations and benchmarks), and cmd/chorus.
package client
