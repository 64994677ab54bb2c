// Package sched is the client's chunk scheduler: an event-driven step
// function that decides which chunk of the playing track (and of the next
// queued track) to fetch from which source, and when.
//
// The Scheduler knows no libp2p, no HTTP, no wall clock and no disk. A driver
// feeds it Events (each stamped with the time of the driver's injected
// clock) and carries out the Actions it returns: Request and Cancel chunk
// fetches, ArmTimer, FindPeers (a DHT lookup), Warm (connect to and protect a
// likely peer), Forget (a peer it no longer refers to), Finished (the play
// reached its end) and GaveUp (the play could not progress). The real client runs
// it over libp2p and HTTP/3 in real time; the swarm simulator runs the same
// code in virtual time over thousands of virtual peers, so each Step costs
// O(sources + outstanding requests + buffer window) and allocates little.
//
// # Policy (after Spotify's 2010 design)
//
//   - Every play has a Playhead: a playback clock that starts when the first
//     chunk arrives (or follows PlayerPosition reports), moves at
//     Config.Speed, and stops while the chunk under it is missing (a
//     stall). Chunk i's deadline is the time the playhead reaches its first
//     byte.
//   - Per chunk, most urgent first, every source (the local cache, connected
//     peers, DHT-found peers, origins) gets an expected arrival time:
//     RTT + (queued bytes + chunk)/throughput, plus one more RTT to connect
//     to a peer not yet connected. The chunk goes to the peer with the
//     earliest arrival if that beats the deadline by Config.HedgeMargin, or
//     waits for a busy peer that will still make it. Each source's figures
//     (from SourceUpdate) are corrected by a learnt lag: a moving average
//     of how late it actually delivers. Failing sources are backed off,
//     exponentially while they keep failing; a corrupt one is banned for the
//     play.
//   - A request a peer is late with is re-sent to another peer
//     (ReasonResend), as Spotify did, and to an origin when it becomes
//     urgent.
//   - Origins are used only for chunks less than Config.MaxOriginAhead of
//     audio ahead of the playhead (Spotify: 15 s), and only when peers cannot
//     make the deadline: the first-chunk race, a deadline at risk (a hedge
//     timer fires at the last moment the origin can still make it), a low
//     buffer, no peer holding the track, a failed peer, or the next track's
//     first chunks at Config.PrefetchOriginAt before the current track ends.
//     Every origin Request carries its Reason. The loser of a race or hedge
//     is cancelled.
//   - The first chunk after Play or Seek is raced between the best connected
//     peer and an origin (Config.FirstChunk), or read from the cache; it
//     never waits for a DHT lookup. FindPeers is issued on Show, on Queue
//     and on Play (again on Play when the last answer is older than
//     Config.LookupFresh: a popular track gains holders by the second).
//   - While a lookup of the playing track is out, a chunk that no known
//     peer can take waits for its answer (at most Config.LookupWait after
//     it went out) when its deadline leaves room, rather than go to an
//     origin; so does a chunk whose only holders answered Busy, until the
//     first of them may be asked again (Config.BusyBackoff).
//   - A lookup that found no usable holder is retried while its track plays,
//     is queued or shown (Show): Config.LookupRetry after the answer,
//     doubling to Config.LookupRetryMax, and at once on RoutingGrew.
//   - A play whose playhead waits or stalls with nothing arriving for
//     Config.GiveUpAfter ends with GaveUp, on a timer. A failing origin is
//     backed off at most Config.OriginBackoffMax, so a play resumes soon
//     after it returns.
//   - Pause and Resume stop and restart the playback clock; Dropped tells
//     that the driver no longer holds a chunk (it keeps a bounded window),
//     which is fetched again if the playhead comes to need it. Nothing is
//     fetched beyond Config.BufferAhead of the playhead.
//   - The next queued track is prefetched from peers starting
//     Config.PrefetchPeersAt before the current one ends (Spotify: 30 s), at
//     lower priority than the current track.
//
// sched imports only the standard library. It must not import node, client,
// tracker, origin, libp2p or net/http, and must not read the wall clock.
// Subpackage schedtest holds a virtual-time harness that drives a Scheduler
// against scripted sources.
package sched
