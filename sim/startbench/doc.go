// Package startbench measures how fast a play can start: the time to the
// first chunk (16 KiB) from a peer whose address is known, over a fresh
// connection (cold) and over an open one (warm), next to an HTTP/3 fetch of
// the same chunk from an origin, every path over the same shaped link
// (sim/shaper) so the figures can be read in round trips.
//
// It runs real components: two swarm nodes (node) on loopback QUIC with
// tracker-signed tickets, and a real origin (origin) serving HTTP/3. It is
// what `chorus bench start` runs; BENCHMARKS.md records its figures.
//
// startbench imports node, origin, catalog, protocol and sim/shaper; nothing
// imports it but cmd.
package startbench
