// Package node is a Chorus swarm member: a libp2p host (QUIC only) that
// admits only peers holding a tracker-signed ticket, serves encrypted chunks
// from a Store over /chorus/chunk/1.0.0, fetches chunks from peers with
// pipelined requests verified against their CIDs, and announces and finds
// tracks in a private Kademlia DHT (/chorus/kad/1.0.0).
//
// # Admission
//
// On every new connection, in both directions, each side opens a one-way
// /chorus/admit/1.0.0 stream carrying its ticket (protocol.Ticket), and the
// first frame of every chunk stream (Hello) carries it too, so a cold fetch
// needs no extra round trip. A ticket that is forged, expired, signed by an
// unknown key or issued to another peer closes the connection at once; a
// peer that shows no valid ticket within Options.AdmitTimeout is
// disconnected. Until a peer is admitted its chunk requests get nothing, and
// the DHT sees it through a guarded host: inbound DHT streams wait for
// admission (or are reset), outbound DHT queries wait for the remote's
// ticket, only admitted peers enter the routing table, and refused peers are
// not queried. The node renews its own ticket at 2/3 of its remaining
// lifetime (on Options.Clock) and re-sends it to connected peers; a peer
// whose ticket expires without renewal is disconnected.
//
// # Chunk exchange
//
// Fetch keeps one stream per peer, shared by concurrent calls, with requests
// matched to responses by ID and Cancel sent when a caller gives up. On a
// peer that is not yet connected it dials (Network().DialPeer), opens a
// stream on the new connection without waiting for identify and selects the
// protocol optimistically (multistream lazy select), so Hello and the first
// Request leave in the first flight after the QUIC handshake. The server
// answers from its Store: DontHave if absent, Busy when all upload slots are
// taken or uploads are disabled, and paces bytes with a token bucket.
//
// Measured on loopback with 25 ms one-way delay injected through
// Options.ListenUDP (go test -v -run TestColdFetchRoundTrips ./node/):
// a 16 KiB chunk from a peer not yet connected arrives in about 2.4 RTT, from
// a connected peer in 1.1 RTT; a plain host.NewStream on a fresh connection
// takes 3.3 RTT.
//
// # Discovery
//
// Held tracks (persisted in DataDir) are announced by one goroutine: all of
// them, each with a full closest-peers lookup, when the routing table first
// gains a peer (and again whenever it regains one after running empty),
// every DHT.ReprovideInterval and when the node's addresses change; a
// record put straight to a peer the routing table gains when that peer is
// among the track's 20 closest (one message, no lookup). Changes that come
// within 200 ms of each other make one round; full announcements are paced
// at 4 per second and direct puts at 200 per second, since a cache may
// hold thousands of tracks. Each announcement also puts the record straight
// to the record servers: the always-on DHT servers (BootstrapList.Servers)
// or, without any, the bootstrap peers. With DHT servers, Provide puts to
// them and returns, queueing the full announcement (a backup) on the
// paced announcer 30 s to 10.5 min later (Node.backupDelay, spread by node
// and track), and FindProviders takes their answer without a DHT walk when it names a
// holder within 500 ms (walking otherwise); without, FindProviders asks the
// bootstrap peers besides the walk. FindProviders waits for the
// first bootstrap attempt (or the first routing table peer), so a node
// that has just started does not look up on an empty table; a caller
// retries a lookup that found nothing when RoutingTableChanged fires. The
// listen port chosen for udp/0 is kept in DataDir, so records and
// bootstrap entries stay valid across restarts. Every dial, the DHT's
// included, times out after 3 s: dead providers stay listed until their
// records expire.
//
// # Limits
//
// The resource manager has fixed limits (see resourceLimits; not autoscaled
// to the machine, since many nodes may share a process): Conns.MaxConns
// connections (default 512), 8 per peer, 256 streams per peer. The
// connection manager trims unprotected connections from Conns.HighWater
// (60) to Conns.LowWater (50), sparing connections younger than
// Conns.GracePeriod (a minute); Connect protects warm peers, and a peer with
// chunk work in flight (a request we await from it, or a stream we serve it
// holding an upload slot) is protected until that work ends, so trims take
// idle DHT connections, never a chunk stream (issue 11). Upload is
// limited by Upload.Slots peers served at once (4) and Upload.BytesPerSecond.
//
// # What the DHT reveals
//
// Any admitted peer can learn from the DHT, about another peer: its peer ID,
// the listen addresses it advertises, that it is online (it answers DHT
// queries and holds a routing table slot), and which tracks it holds, through
// its provider records (one record per track ID, re-announced every
// DHT.ReprovideInterval). It cannot learn what the peer plays or has played
// from its cache beyond those announced tracks, which chunks of a track it
// holds (records are per track, never per chunk), nor its account: the
// account name travels only inside the ticket, shown to peers it is
// connected to.
//
// # Imports
//
// node may import protocol, catalog, internal/clock and libp2p. It must not
// import client, tracker, origin or cmd, nor node/cache (which satisfies
// Store from above).
package node
