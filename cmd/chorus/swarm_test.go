package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/chorus-music/chorus/client"
)

// TestSwarmAsPeopleRunIt runs the swarm as separate processes started one
// at a time, as the README shows: a tracker with its DHT server and an
// origin; listener A plays a track with --swarm and exits; A's node and
// B's node start (in either order, and A's node restarted in between); the
// origin stops; then C, fresh, plays with --swarm right after starting.
// Every byte of C's play must come from peers, byte-identical.
func TestSwarmAsPeopleRunIt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes func(s *swarmSite, a, b func() *proc)
	}{
		{"A then B", func(s *swarmSite, a, b func() *proc) { a(); b() }},
		{"B then A", func(s *swarmSite, a, b func() *proc) { b(); a() }},
		{"A restarted", func(s *swarmSite, a, b func() *proc) {
			first := a()
			b()
			first.stop()
			again := a()
			// The node comes back on the port it had, so the records and
			// bootstrap entries naming it stay valid.
			if was, is := listenAddrs(first.waitFor("node sharing")), listenAddrs(again.waitFor("node sharing")); was == "" || was != is {
				s.t.Errorf("A's node listens on %s after its restart; want %s as before", is, was)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSwarmSite(t, "alice", "bob", "carol")
			dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
			if _, got := s.play("A play", "alice", dirA); !bytes.Equal(got, s.want) {
				t.Fatal("A's play output differs from the source")
			}
			startA := func() *proc {
				p := s.listener("A node", "alice", dirA, "node")
				p.waitFor("sharing 1 tracks")
				return p
			}
			startB := func() *proc {
				p := s.listener("B node", "bob", dirB, "node")
				p.waitFor("sharing 0 tracks")
				return p
			}
			tc.nodes(s, startA, startB)
			s.origin.stop()

			p, got := s.play("C play", "carol", dirC)
			if !bytes.Equal(got, s.want) {
				t.Fatalf("C's play wrote %d bytes that differ from the %d-byte source", len(got), len(s.want))
			}
			st := p.stats()
			t.Logf("C: %+v", st)
			if peer := st.BytesBySource[client.KindPeer]; peer != int64(len(s.want)) {
				t.Errorf("C's play took %d of %d bytes from peers (%+v); want all", peer, len(s.want), st.BytesBySource)
			}
		})
	}
}

// listenAddrs returns the addrs=[...] field of a node's log line.
func listenAddrs(line string) string {
	_, rest, _ := strings.Cut(line, "addrs=[")
	addrs, _, _ := strings.Cut(rest, "]")
	return addrs
}
