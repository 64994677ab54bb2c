// Package fault makes real swarm nodes misbehave, for tests and simulations,
// from outside the node's serving code: wrappers of the inbound chunk
// streams a node serves (installed through node.Options.ServeStream, as
// sim/shaper's sockets are installed through ListenUDP).
//
//   - Stall reads a peer's requests and never answers them. Requests never
//     reach the node's queue, so a stalled peer holds no upload slot and
//     other peers are served as usual.
//   - Corrupt flips one byte in the data of every chunk the node sends, after
//     the node has read it from its store; the receiver's CID check catches
//     it.
//
// fault imports only protocol and libp2p's stream interface; it must not
// import node, client, tracker or origin.
package fault
