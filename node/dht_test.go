package node

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/node/dhtstore"
)

func TestDHTFindProviders(t *testing.T) {
	for _, light := range []bool{false, true} {
		t.Run(fmt.Sprintf("light=%v", light), func(t *testing.T) {
			tr := newFakeTracker(t)
			setLight := func(o *Options) { o.DHT.LightBootstrap = light }
			boot := newTestNode(t, tr, setLight)
			bootstrap := func(context.Context) (BootstrapList, error) {
				return BootstrapList{Peers: []peer.AddrInfo{boot.AddrInfo()}}, nil
			}
			nodes := []*testNode{boot}
			for range 4 {
				nodes = append(nodes, newTestNode(t, tr, setLight, func(o *Options) { o.Bootstrap = bootstrap }))
			}
			ctx := testCtx(t)
			for i, n := range nodes {
				select {
				case <-n.Bootstrapped():
				case <-ctx.Done():
					t.Fatalf("node %d: bootstrap did not finish", i)
				}
			}
			provider, finder := nodes[2], nodes[4]
			c, data := provider.store.put(t, catalog.ChunkSize)
			track := catalog.ManifestID([]byte("a track " + provider.ID().String()))
			if err := provider.Provide(ctx, track); err != nil {
				t.Fatalf("Provide: %v", err)
			}
			ais, err := finder.FindProviders(ctx, track, 5)
			if err != nil {
				t.Fatalf("FindProviders: %v", err)
			}
			if len(ais) != 1 || ais[0].ID != provider.ID() {
				t.Fatalf("FindProviders = %v; want just %s", ais, provider.ID())
			}
			// The DHT gave the finder the provider's addresses.
			got, err := finder.Fetch(ctx, provider.ID(), c)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Fetch from found provider = %d bytes, %v; want its chunk", len(got), err)
			}
			if ais, _ := provider.FindProviders(ctx, track, 5); len(ais) != 0 {
				t.Errorf("provider.FindProviders = %v; want nothing (self excluded)", ais)
			}

			if err := provider.Unprovide(track); err != nil {
				t.Fatalf("Unprovide: %v", err)
			}
			if held := provider.Held(); len(held) != 0 {
				t.Errorf("Held after Unprovide = %v; want none", held)
			}
		})
	}
}

func TestReprovideAfterRestart(t *testing.T) {
	tr := newFakeTracker(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	track := catalog.ManifestID([]byte("held before the restart"))

	// First life: no peers; the track is recorded as held.
	alone, err := New(ctx, Options{DataDir: dir, TrackerKeys: tr.keys, Tickets: tr.valid()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := alone.Provide(ctx, track); err == nil {
		t.Logf("Provide with no peers succeeded; fine, it is held either way")
	}
	if err := alone.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	boot := newTestNode(t, tr)
	bootstrap := func(context.Context) (BootstrapList, error) {
		return BootstrapList{Peers: []peer.AddrInfo{boot.AddrInfo()}}, nil
	}
	finder := newTestNode(t, tr, func(o *Options) { o.Bootstrap = bootstrap })
	// Second life: same DataDir, now with a network.
	announced := make(chan cid.Cid, 4)
	again := newAnnouncingNode(t, tr, announced, func(o *Options) { o.DataDir = dir; o.Bootstrap = bootstrap })
	select {
	case c := <-announced:
		if !c.Equals(track) {
			t.Fatalf("announced %s; want %s", c, track)
		}
	case <-ctx.Done():
		t.Fatal("the held track was not announced after the restart")
	}
	<-finder.Bootstrapped()
	ais, err := finder.FindProviders(ctx, track, 5)
	if err != nil {
		t.Fatalf("FindProviders: %v", err)
	}
	if len(ais) != 1 || ais[0].ID != again.ID() {
		t.Errorf("FindProviders after restart = %v; want %s", ais, again.ID())
	}
}

// TestProvideAloneAnnouncesLater: the first node of a swarm provides a track
// while its routing table is empty; the announcement fails, and is made as
// soon as a peer joins, so the newcomer finds the track.
func TestProvideAloneAnnouncesLater(t *testing.T) {
	tr := newFakeTracker(t)
	announced := make(chan cid.Cid, 4)
	first := newAnnouncingNode(t, tr, announced)
	ctx := testCtx(t)
	<-first.Bootstrapped()
	track := catalog.ManifestID([]byte("a track held before anyone joined"))
	if err := first.Provide(ctx, track); err == nil {
		t.Fatal("Provide with an empty routing table = nil; want the announcement to fail")
	}
	joiner := newTestNode(t, tr, func(o *Options) {
		o.Bootstrap = func(context.Context) (BootstrapList, error) {
			return BootstrapList{Peers: []peer.AddrInfo{first.AddrInfo()}}, nil
		}
	})
	select {
	case c := <-announced:
		if !c.Equals(track) {
			t.Fatalf("announced %s; want %s", c, track)
		}
	case <-ctx.Done():
		t.Fatal("the failed announcement was never retried")
	}
	// The joiner asks the peers in its routing table: wait until first is
	// in it (kad-dht adds it after checking that it answers).
	if err := joiner.waitRoutingTable(ctx); err != nil {
		t.Fatalf("joiner's routing table stayed empty: %v", err)
	}
	ais, err := joiner.FindProviders(ctx, track, 5)
	if err != nil || len(ais) != 1 || ais[0].ID != first.ID() {
		t.Fatalf("FindProviders = %v, %v; want %s", ais, err, first.ID())
	}
}

// TestRoutingTableChanged: the channel closes when the routing table first
// gains a peer, and is then replaced by a fresh one.
func TestRoutingTableChanged(t *testing.T) {
	tr := newFakeTracker(t)
	ctx := testCtx(t)
	first := newTestNode(t, tr)
	<-first.Bootstrapped()
	ch := first.RoutingTableChanged()
	select {
	case <-ch:
		t.Fatal("RoutingTableChanged closed before any peer joined")
	default:
	}
	newTestNode(t, tr, func(o *Options) {
		o.Bootstrap = func(context.Context) (BootstrapList, error) {
			return BootstrapList{Peers: []peer.AddrInfo{first.AddrInfo()}}, nil
		}
	})
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("RoutingTableChanged did not close when a peer joined")
	}
	if first.RoutingTableSize() == 0 {
		t.Error("channel closed with an empty routing table")
	}
	select {
	case <-first.RoutingTableChanged():
		t.Error("the channel after a change is already closed; want a fresh one")
	default:
	}
}

// TestListenPortKeptAcrossRestart: a node configured with port 0 listens
// on the same port after a restart, so records and bootstrap entries that
// name it stay valid.
func TestListenPortKeptAcrossRestart(t *testing.T) {
	tr := newFakeTracker(t)
	dir := t.TempDir()
	start := func() []string {
		n, err := New(testCtx(t), Options{DataDir: dir, TrackerKeys: tr.keys, Tickets: tr.valid()})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		var out []string
		for _, a := range n.Addrs() {
			out = append(out, a.String())
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first, second := start(), start()
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("addresses after restart %v; want the first run's %v", second, first)
	}
	if strings.Contains(fmt.Sprint(first), "/udp/0/") {
		t.Errorf("addresses %v still name port 0", first)
	}
}

// TestNewClosePeerGetsRecords: a node that already announced its tracks
// puts each of them straight to a peer that joins later and is among the
// tracks' closest (in a swarm this small, every peer is), with no new
// lookup.
func TestNewClosePeerGetsRecords(t *testing.T) {
	tr := newFakeTracker(t)
	ctx := testCtx(t)
	announced := make(chan cid.Cid, 4)
	puts := make(chan peer.ID, 16)
	o := Options{DataDir: t.TempDir(), TrackerKeys: tr.keys, Tickets: tr.valid()}
	holder, err := newNodeWith(t, ctx, o, hooks{
		announced: func(c cid.Cid) { announced <- c },
		put:       func(p peer.ID, _ cid.Cid) { puts <- p },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close() })
	track := catalog.ManifestID([]byte("held by the first node"))
	if err := holder.Provide(ctx, track); err == nil {
		t.Fatal("Provide alone succeeded; want it to fail and wait for a peer")
	}
	viaHolder := func(o *Options) {
		o.Bootstrap = func(context.Context) (BootstrapList, error) {
			return BootstrapList{Peers: []peer.AddrInfo{holder.AddrInfo()}}, nil
		}
	}
	newTestNode(t, tr, viaHolder)
	select {
	case <-announced: // the first peer: a full announcement
	case <-ctx.Done():
		t.Fatal("never announced after the first peer joined")
	}
	late := newTestNode(t, tr, viaHolder)
	for {
		select {
		case p := <-puts:
			if p != late.ID() {
				continue
			}
		case <-ctx.Done():
			t.Fatal("the record was never put to the peer that joined later")
		}
		break
	}
	// Ask the late peer over the holder's DHT stream to it, which carried
	// the put: its answer comes after the put was handled.
	pm, err := dhtpb.NewProtocolMessenger(holder.dht.MessageSender())
	if err != nil {
		t.Fatal(err)
	}
	provs, _, err := pm.GetProviders(ctx, late.ID(), track.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(provs, func(ai *peer.AddrInfo) bool { return ai.ID == holder.ID() }) {
		t.Errorf("late peer's records for the track = %v; want the holder %s", provs, holder.ID())
	}
}

// TestAddressChangeReannounces: when the node's listen addresses change,
// its held tracks are announced again (the records carry the addresses).
func TestAddressChangeReannounces(t *testing.T) {
	tr := newFakeTracker(t)
	ctx := testCtx(t)
	announced := make(chan cid.Cid, 8)
	n := newAnnouncingNode(t, tr, announced)
	<-n.Bootstrapped()
	track := catalog.ManifestID([]byte("held while the addresses change"))
	if err := n.Provide(ctx, track); err == nil {
		t.Fatal("Provide alone succeeded; want it to wait for a peer")
	}
	newTestNode(t, tr, func(o *Options) {
		o.Bootstrap = func(context.Context) (BootstrapList, error) {
			return BootstrapList{Peers: []peer.AddrInfo{n.AddrInfo()}}, nil
		}
	})
	wantAnnounced := func(why string) {
		t.Helper()
		select {
		case c := <-announced:
			if !c.Equals(track) {
				t.Fatalf("announced %s; want %s", c, track)
			}
		case <-ctx.Done():
			t.Fatalf("no announcement %s", why)
		}
	}
	wantAnnounced("when the first peer joined")
	extra, err := multiaddr.NewMultiaddr("/ip6/::1/udp/0/quic-v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.host.Network().Listen(extra); err != nil {
		t.Fatalf("listen on a second address: %v", err)
	}
	wantAnnounced("after the addresses changed")
}

// TestServerRecordsSurviveRestart: an always-on DHT server with a
// persistent record store still answers for a track after it restarts,
// though the listener that announced the track has left meanwhile.
func TestServerRecordsSurviveRestart(t *testing.T) {
	tr := newFakeTracker(t)
	ctx := testCtx(t)
	serverDir, recordsPath := t.TempDir(), filepath.Join(t.TempDir(), "records.db")
	startServer := func() (*Node, func()) {
		t.Helper()
		records, err := dhtstore.Open(recordsPath)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(ctx, Options{DataDir: serverDir, TrackerKeys: tr.keys, Tickets: tr.valid(),
			Upload: UploadOptions{Disabled: true}, DHT: DHTOptions{Records: records}})
		if err != nil {
			t.Fatal(err)
		}
		return s, func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			records.Close()
		}
	}
	server, stopServer := startServer()
	viaServer := func(o *Options) {
		o.Bootstrap = func(context.Context) (BootstrapList, error) {
			return BootstrapList{Servers: []peer.AddrInfo{server.AddrInfo()}}, nil
		}
	}
	track := catalog.ManifestID([]byte("announced to the server"))
	listener, err := New(ctx, Options{TrackerKeys: tr.keys, Tickets: tr.valid(), Bootstrap: func(context.Context) (BootstrapList, error) {
		return BootstrapList{Servers: []peer.AddrInfo{server.AddrInfo()}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-listener.Bootstrapped()
	if err := listener.Provide(ctx, track); err != nil {
		t.Fatalf("Provide: %v", err)
	}
	gone := listener.ID()
	if err := listener.Close(); err != nil {
		t.Fatal(err)
	}
	stopServer()
	server, stopServer = startServer()
	defer stopServer()

	finder := newTestNode(t, tr, viaServer)
	provs, err := finder.FindProviders(ctx, track, 5)
	if err != nil {
		t.Fatalf("FindProviders: %v", err)
	}
	if !slices.ContainsFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == gone }) {
		t.Errorf("FindProviders after the server restarted = %v; want the listener %s from the server's records", provs, gone)
	}
}

// TestLookupTrustsServers: with always-on DHT servers in the bootstrap
// list, a lookup that a server answers with a holder takes that answer
// without walking the DHT; without servers, the walk still finds what the
// closest peers hold. A holder that announced only to the DHT's peers (it
// left before the server joined) tells the two apart.
func TestLookupTrustsServers(t *testing.T) {
	tr := newFakeTracker(t)
	ctx := testCtx(t)
	boot := newTestNode(t, tr)
	viaPeers := func(o *Options) {
		o.Bootstrap = func(context.Context) (BootstrapList, error) {
			return BootstrapList{Peers: []peer.AddrInfo{boot.AddrInfo()}}, nil
		}
	}
	for range 2 {
		newTestNode(t, tr, viaPeers)
	}
	track := catalog.ManifestID([]byte("held by two, one of them gone"))

	// The early holder announces to the DHT's peers, then leaves.
	early, err := New(ctx, Options{TrackerKeys: tr.keys, Tickets: tr.valid(), Bootstrap: func(context.Context) (BootstrapList, error) {
		return BootstrapList{Peers: []peer.AddrInfo{boot.AddrInfo()}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-early.Bootstrapped()
	if err := early.Provide(ctx, track); err != nil {
		t.Fatalf("early Provide: %v", err)
	}
	gone := early.ID()
	if err := early.Close(); err != nil {
		t.Fatal(err)
	}

	// The server joins afterwards; the late holder announces to it first.
	server := newTestNode(t, tr, viaPeers)
	<-server.Bootstrapped()
	viaServer := func(o *Options) {
		o.Bootstrap = func(context.Context) (BootstrapList, error) {
			return BootstrapList{Servers: []peer.AddrInfo{server.AddrInfo()}, Peers: []peer.AddrInfo{boot.AddrInfo()}}, nil
		}
	}
	late := newTestNode(t, tr, viaServer)
	<-late.Bootstrapped()
	if err := late.Provide(ctx, track); err != nil {
		t.Fatalf("late Provide: %v", err)
	}

	has := func(ais []peer.AddrInfo, id peer.ID) bool {
		return slices.ContainsFunc(ais, func(ai peer.AddrInfo) bool { return ai.ID == id })
	}
	trusting := newTestNode(t, tr, viaServer)
	<-trusting.Bootstrapped()
	provs, err := trusting.FindProviders(ctx, track, 5)
	if err != nil {
		t.Fatalf("FindProviders via the server: %v", err)
	}
	if !has(provs, late.ID()) || has(provs, gone) {
		t.Errorf("FindProviders via the server = %v; want the late holder %s from the server alone, not the early %s the walk would find",
			provs, late.ID(), gone)
	}
	walking := newTestNode(t, tr, viaPeers)
	<-walking.Bootstrapped()
	provs, err = walking.FindProviders(ctx, track, 5)
	if err != nil {
		t.Fatalf("FindProviders without servers: %v", err)
	}
	if !has(provs, gone) {
		t.Errorf("FindProviders without servers = %v; want the walk to find the early holder %s", provs, gone)
	}
}

// TestProvideDefersTheWalkWhenAServerHoldsIt: once an always-on DHT server
// holds a track's record, the walk that also puts it to the closest peers
// waits backupDelay on the node's clock, a delay spread over nodes and
// tracks, instead of joining the announcer's queue at once; a track
// provided again (a replay) gets no second walk.
func TestProvideDefersTheWalkWhenAServerHoldsIt(t *testing.T) {
	tr := newFakeTracker(t)
	ctx := testCtx(t)
	server := newTestNode(t, tr)
	clk := clock.NewFake(time.Now())
	n := newTestNode(t, tr, func(o *Options) {
		o.Clock = clk
		o.Bootstrap = func(context.Context) (BootstrapList, error) {
			return BootstrapList{Servers: []peer.AddrInfo{server.AddrInfo()}}, nil
		}
	})
	<-n.Bootstrapped()
	track := catalog.ManifestID([]byte("a record the server holds"))
	if err := n.Provide(ctx, track); err != nil {
		t.Fatalf("Provide: %v", err)
	}
	if !slices.ContainsFunc(n.recordServers(), func(ai peer.AddrInfo) bool { return ai.ID == server.ID() }) {
		t.Fatalf("record servers %v lack the server %s", n.recordServers(), server.ID())
	}
	queued := func() bool {
		n.ann.mu.Lock()
		defer n.ann.mu.Unlock()
		_, ok := n.ann.tracks[track]
		return ok
	}
	d := n.backupDelay(track)
	if d < backupAnnounceMin || d >= backupAnnounceMin+backupAnnounceSpread {
		t.Fatalf("backupDelay = %v; want in [%v, %v)", d, backupAnnounceMin, backupAnnounceMin+backupAnnounceSpread)
	}
	if queued() {
		t.Fatal("the walk was queued at once; want it after backupDelay")
	}
	clk.Advance(d - time.Millisecond)
	if queued() {
		t.Fatalf("the walk was queued %v after Provide; want it at %v", d-time.Millisecond, d)
	}
	clk.Advance(time.Millisecond)
	if !queued() {
		t.Fatalf("the walk was not queued at backupDelay (%v)", d)
	}
	// Provided again (a replay of a held track) once that walk was
	// taken: no second walk, however long it waits.
	n.ann.mu.Lock()
	delete(n.ann.tracks, track)
	n.ann.mu.Unlock()
	if err := n.Provide(ctx, track); err != nil {
		t.Fatalf("Provide again: %v", err)
	}
	clk.Advance(backupAnnounceMin + backupAnnounceSpread)
	if queued() {
		t.Error("a second Provide of a held track queued another walk; want none")
	}
	// The delay is spread: other tracks of the same node wait otherwise.
	other := n.backupDelay(catalog.ManifestID([]byte("another track")))
	if other == d {
		t.Errorf("backupDelay is %v for two tracks; want it spread", d)
	}
}
