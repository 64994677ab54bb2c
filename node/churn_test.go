package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/node/dhtstore"
)

// churnTrack is one track of the churn test: its ID and chunks.
type churnTrack struct {
	id     cid.Cid
	chunks []cid.Cid
	data   map[cid.Cid][]byte
}

// churnMember is one listener of the churn test: a node that can leave
// and come back with the same data directory (identity, held tracks,
// listen port) and the same chunk store.
type churnMember struct {
	dir   string
	store *memStore
	n     *Node // nil while away
}

// TestChurn: 21 real nodes and an always-on DHT server with a persistent
// record store; in each of several rounds a third of the nodes leave while
// the others play, then come back. A play looks the track up, fetches every
// chunk from the holders it found (connected ones first) and falls back to
// "the origin" (counted, not fetched) for a chunk no holder gave; a node
// that played a track holds it and announces it, as a client does.
// Measured: the share of lookups made after a rejoin that find an online
// holder (want >= 99%), and the share of bytes from peers (want >= 90%).
func TestChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts 21 nodes")
	}
	const (
		members   = 21
		tracks    = 12
		chunks    = 4
		chunkSize = 16 << 10
		rounds    = 3
		playsEach = 7 // plays while a third is away, per round
	)
	rng := rand.New(rand.NewPCG(8, 8))
	tr := newFakeTracker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	records, err := dhtstore.Open(filepath.Join(t.TempDir(), "records.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { records.Close() })
	server := newTestNode(t, tr, func(o *Options) {
		o.Store = nil
		o.Upload.Disabled = true
		o.DHT.Records = records
		o.DHT.LightBootstrap = true
	})
	bootstrap := func(context.Context) (BootstrapList, error) {
		return BootstrapList{Servers: []peer.AddrInfo{server.AddrInfo()}}, nil
	}

	start := func(m *churnMember) {
		t.Helper()
		n, err := New(ctx, Options{
			DataDir: m.dir, TrackerKeys: tr.keys, Tickets: tr.valid(), Bootstrap: bootstrap,
			Store: m.store, DHT: DHTOptions{LightBootstrap: true},
		})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		m.n = n
	}
	stop := func(m *churnMember) {
		if err := m.n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		m.n = nil
	}
	ms := make([]*churnMember, members)
	for i := range ms {
		ms[i] = &churnMember{dir: t.TempDir(), store: newMemStore()}
		start(ms[i])
	}
	t.Cleanup(func() {
		for _, m := range ms {
			if m.n != nil {
				stop(m)
			}
		}
	})
	for _, m := range ms {
		<-m.n.Bootstrapped()
	}

	// Each track starts on two members.
	ts := make([]churnTrack, tracks)
	for i := range ts {
		tk := churnTrack{id: catalog.ManifestID(fmt.Appendf(nil, "churn track %d", i)), data: map[cid.Cid][]byte{}}
		holders := rng.Perm(members)[:2]
		for k := range chunks {
			c, b := ms[holders[0]].store.put(t, chunkSize)
			tk.chunks = append(tk.chunks, c)
			tk.data[c] = b
			for _, h := range holders[1:] {
				ms[h].store.mu.Lock()
				ms[h].store.m[c] = b
				ms[h].store.mu.Unlock()
			}
			_ = k
		}
		ts[i] = tk
		for _, h := range holders {
			if err := ms[h].n.Provide(ctx, tk.id); err != nil {
				t.Fatalf("initial Provide: %v", err)
			}
		}
	}

	var (
		mu                     sync.Mutex // guards the counters
		afterRejoin, found     int
		peerBytes, originBytes int64
	)
	holds := func(m *churnMember, tk churnTrack) bool { return m.store.Has(tk.chunks[len(tk.chunks)-1]) }
	online := map[peer.ID]*churnMember{}
	var omu sync.Mutex // guards online
	setOnline := func() {
		omu.Lock()
		defer omu.Unlock()
		clear(online)
		for _, m := range ms {
			if m.n != nil {
				online[m.n.ID()] = m
			}
		}
	}
	setOnline()

	// play runs one play of tk on m; counted says whether its lookup
	// counts as one made after a rejoin.
	play := func(m *churnMember, tk churnTrack, counted bool) {
		n := m.n
		provs, err := n.FindProviders(ctx, tk.id, 20)
		if err != nil {
			t.Errorf("FindProviders: %v", err)
			return
		}
		hit := false
		omu.Lock()
		for _, ai := range provs {
			if h := online[ai.ID]; h != nil && holds(h, tk) {
				hit = true
			}
		}
		omu.Unlock()
		connected := map[peer.ID]bool{}
		for _, p := range n.ConnectedPeers() {
			connected[p] = true
		}
		slices.SortStableFunc(provs, func(a, b peer.AddrInfo) int {
			switch {
			case connected[a.ID] == connected[b.ID]:
				return 0
			case connected[a.ID]:
				return -1
			}
			return 1
		})
		var fromPeers, fromOrigin int64
		failed := map[peer.ID]bool{} // not asked again during the play
		for _, c := range tk.chunks {
			got := false
			for _, ai := range provs {
				if failed[ai.ID] {
					continue
				}
				fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				b, err := n.FetchFrom(fctx, ai, c)
				cancel()
				if err != nil {
					failed[ai.ID] = true
				}
				if err == nil {
					m.store.mu.Lock()
					m.store.m[c] = b
					m.store.mu.Unlock()
					fromPeers += int64(len(b))
					got = true
					break
				}
			}
			if !got {
				m.store.mu.Lock()
				m.store.m[c] = tk.data[c]
				m.store.mu.Unlock()
				fromOrigin += int64(len(tk.data[c]))
			}
		}
		if err := n.Provide(ctx, tk.id); err != nil {
			t.Logf("Provide after play: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		peerBytes += fromPeers
		originBytes += fromOrigin
		if counted {
			afterRejoin++
			if hit {
				found++
			}
		}
	}
	// playSome runs k plays at once by random online members of tracks
	// they do not hold.
	playSome := func(k int, counted bool) {
		var wg sync.WaitGroup
		for range k {
			var m *churnMember
			for m == nil || m.n == nil {
				m = ms[rng.IntN(members)]
			}
			tk := ts[rng.IntN(tracks)]
			for holds(m, tk) {
				tk = ts[rng.IntN(tracks)]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				play(m, tk, counted)
			}()
		}
		wg.Wait()
	}

	for r := range rounds {
		away := rng.Perm(members)[:members/3]
		for _, i := range away {
			stop(ms[i])
		}
		setOnline()
		t0 := time.Now()
		playSome(playsEach, false)
		t.Logf("round %d: plays while away %v", r, time.Since(t0))
		t0 = time.Now()
		for _, i := range away {
			start(ms[i])
		}
		for _, i := range away {
			<-ms[i].n.Bootstrapped()
		}
		setOnline()
		t.Logf("round %d: rejoin %v", r, time.Since(t0))
		t0 = time.Now()
		// Lookups after the rejoin, by every member, each of a track it
		// does not hold.
		var wg sync.WaitGroup
		for _, m := range ms {
			var tk churnTrack
			for tk = ts[rng.IntN(tracks)]; holds(m, tk); tk = ts[rng.IntN(tracks)] {
				if allHeld(m, ts, holds) {
					break
				}
			}
			if holds(m, tk) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				play(m, tk, true)
			}()
		}
		wg.Wait()
		t.Logf("round %d: plays after rejoin %v", r, time.Since(t0))
		t.Logf("round %d: %d of %d lookups after a rejoin found an online holder; %d bytes from peers, %d from the origin",
			r, found, afterRejoin, peerBytes, originBytes)
	}

	lookupShare := float64(found) / float64(afterRejoin)
	peerShare := float64(peerBytes) / float64(peerBytes+originBytes)
	fmt.Printf("churn: %d members, a third away each of %d rounds: %.1f%% of %d lookups after a rejoin found an online holder; %.1f%% of %d bytes from peers\n",
		members, rounds, 100*lookupShare, afterRejoin, 100*peerShare, peerBytes+originBytes)
	if lookupShare < 0.99 {
		t.Errorf("%.1f%% of lookups after a rejoin found a holder; want at least 99%%", 100*lookupShare)
	}
	if peerShare < 0.90 {
		t.Errorf("%.1f%% of bytes from peers; want at least 90%%", 100*peerShare)
	}
}

func allHeld(m *churnMember, ts []churnTrack, holds func(*churnMember, churnTrack) bool) bool {
	for _, tk := range ts {
		if !holds(m, tk) {
			return false
		}
	}
	return true
}
