// Package daemontest starts a real daemon in a test swarm, for tests of
// the daemon's API and of the web player: a tracker on SQLite, an origin,
// a few peer listeners (sim/cluster) and a logged-in daemon on loopback.
// Nothing in it is a mock.
package daemontest
