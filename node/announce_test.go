package node

import (
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
)

// TestAnnouncerRounds drives the announcement queue alone: nothing goes out
// while the routing table is empty; the first peer brings a full round of
// every held track; later peers bring direct puts only; failed tracks wait
// for the next change; an emptied table makes the next peer bring a full
// round again.
func TestAnnouncerRounds(t *testing.T) {
	a := newAnnouncer()
	t1, t2 := catalog.ManifestID([]byte("one")), catalog.ManifestID([]byte("two"))
	held := func() []cid.Cid { return []cid.Cid{t1, t2} }

	a.announceTrack(t1)
	a.peerAdded("p1")
	if _, ok := a.take(0, held); ok {
		t.Fatal("a round with an empty routing table")
	}
	r, ok := a.take(1, held)
	if !ok || !r.all || len(r.tracks) != 2 || len(r.newPeers) != 0 {
		t.Fatalf("first round with a peer = %+v, %v; want every held track, no direct puts", r, ok)
	}
	if _, ok := a.take(1, held); ok {
		t.Fatal("a second round with nothing new")
	}

	a.peerAdded("p2")
	a.peerAdded("p3")
	r, ok = a.take(3, held)
	if !ok || r.all || len(r.tracks) != 0 || len(r.newPeers) != 2 {
		t.Fatalf("round after two new peers = %+v, %v; want direct puts to both, no lookups", r, ok)
	}

	a.requeue([]cid.Cid{t2})
	a.peerAdded("p4")
	r, ok = a.take(4, held)
	if !ok || r.all || len(r.tracks) != 1 || !r.tracks[0].Equals(t2) || len(r.newPeers) != 1 || r.newPeers[0] != peer.ID("p4") {
		t.Fatalf("round after a failure and a new peer = %+v, %v; want the failed track again and a put to p4", r, ok)
	}

	a.poke()
	if _, ok := a.take(0, held); ok {
		t.Fatal("a round with the table emptied")
	}
	a.peerAdded("p5")
	if r, ok := a.take(1, held); !ok || !r.all {
		t.Fatalf("first round after the table emptied = %+v, %v; want every held track", r, ok)
	}
}
