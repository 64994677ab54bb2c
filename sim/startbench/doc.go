// Package startbench measures how fast a listener gets audio, as a player
// experiences it: the time from Play to the first 20,000 bytes (1 s of audio
// at 160 kbit/s, in order), to the first 320,000 bytes (16 s) and to the
// whole track (240 s, 4.8 MB), every byte read through client.Playback and
// checked against the ingested file. Paths: one peer and two peers (each on
// its own shaped link), cold (a new node: dial, admission, first requests)
// and warm (a new play over the open connection), next to HTTP/3 from an
// origin (quic-go, every chunk asked at once, as a CDN client would) and the
// physical floors of the link (cold: one round trip for the QUIC handshake,
// one for the request, then the bytes at the link rate; warm: one round trip
// and the bytes). Every party's UDP sends go through sim/shaper (half the
// round trip each way, the link rate on each uplink).
//
// The plays run in download mode (Config.BufferAhead is the track's
// length), the mode a prefetch or a download uses: the whole track is asked
// for as fast as the path allows. A listener's playback keeps its default
// buffer-ahead (60 s), which the first 320,000 bytes are well inside.
//
// It runs real components: a tracker and an origin (sim/cluster), swarm
// nodes with caches (client.JoinSwarm) and clients (client). The peers'
// addresses are handed to the client as a lookup would, so no DHT time is
// counted; manifest and key are fetched before the clock starts. It is what
// `chorus bench start` runs; BENCHMARKS.md records its figures.
//
// startbench imports client, node, origin, catalog, sim/cluster and
// sim/shaper; nothing imports it but cmd.
package startbench
