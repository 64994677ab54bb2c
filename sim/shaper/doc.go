// Package shaper shapes a node's outgoing UDP traffic without root: a
// net.PacketConn wrapper that adds one-way delay (with jitter that never
// reorders), random loss from a seeded RNG, and a bandwidth limit, so real
// QUIC and libp2p nodes on loopback see the latency, loss and rate of a real
// network. It is the first part of the swarm simulator.
//
// Shaping applies on WriteTo only: each wrapped socket is one node's uplink,
// so two nodes each wrapped with 20 ms delay see a 40 ms round trip. Packets
// pass through a per-connection FIFO delay line: packet k is released at
// max(departure_k + Delay + jitter_k, release_{k-1}), where departure is
// when the bandwidth limit lets its last byte onto the link; a sender
// goroutine writes each packet to the real socket at its release time, so a
// packet is never early and jitter never reorders (quic-go would read
// reordering as loss). Packets that would wait for the link longer than
// Options.MaxBacklog are dropped, as a router's queue would.
//
// Use it with libp2p through quicreuse.OverrideListenUDP(shaper.ListenUDP(opts)).
// The wrapper passes SetReadBuffer, SetWriteBuffer, SyscallConn, LocalAddr
// and deadlines through to the socket; since it is not a *net.UDPConn,
// quic-go turns off GSO, batched reads and ECN for it.
//
// shaper imports only the standard library and internal/clock; it must not
// import node, client, tracker or origin.
package shaper
