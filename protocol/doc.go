// Package protocol holds Chorus's wire contracts: the JSON types and paths of
// the tracker's HTTP API, the tracker-signed peer admission ticket, and the
// peer-to-peer chunk exchange protocol (/chorus/chunk/1.0.0) with its framed
// codec.
//
// It owns encodings only: nothing here opens a socket. Encoders and decoders
// take io.Reader and io.Writer so that tests can join two ends with a pipe.
//
// protocol may import catalog and libp2p's core types, but never node,
// client, tracker or origin: those all build on it.
package protocol
