// Package cluster runs a whole Chorus network in one process on loopback:
// a tracker on a real SQLite file, an origin serving real HTTP/3 and HTTPS
// with a dev certificate, and listeners, each a client with its own swarm
// node and cache. The demo runs on it, and so do the end-to-end tests and
// benchmarks: every part is the real component, never a mock.
//
// cluster imports everything; only cmd and tests import cluster.
package cluster
