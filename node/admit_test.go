package node

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
)

// badTickets are ticket sources that the tracker tr would not vouch for.
func badTickets(t *testing.T, tr *fakeTracker) map[string]TicketSource {
	forger := newFakeTracker(t) // same key ID, different key
	someone := newTestNode(t, tr)
	return map[string]TicketSource{
		"no ticket": TicketFunc(func(context.Context, peer.ID) (protocol.Ticket, error) {
			return protocol.Ticket{}, nil
		}),
		"expired": TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
			return tr.sign(p.String(), time.Now().Add(-2*time.Hour), time.Hour), nil
		}),
		"forged": TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
			return forger.sign(p.String(), time.Now(), time.Hour), nil
		}),
		"another peer's": TicketFunc(func(context.Context, peer.ID) (protocol.Ticket, error) {
			return tr.sign(someone.ID().String(), time.Now(), time.Hour), nil
		}),
	}
}

func TestAdmissionRefusesChunks(t *testing.T) {
	tr := newFakeTracker(t)
	good := newTestNode(t, tr, func(o *Options) { o.AdmitTimeout = 2 * time.Second })
	c, _ := good.store.put(t, catalog.ChunkSize)
	for name, src := range badTickets(t, tr) {
		t.Run(name, func(t *testing.T) {
			bad := newTestNode(t, tr, func(o *Options) { o.Tickets = src })
			bc, _ := bad.store.put(t, catalog.ChunkSize)
			ctx := testCtx(t)
			w := watchDisconnect(t, good.Node)

			if data, err := bad.FetchFrom(ctx, good.AddrInfo(), c); err == nil {
				t.Fatalf("bad.FetchFrom(good) = %d bytes; want an error", len(data))
			}
			if err := w.wait(ctx, bad.ID()); err != nil {
				t.Fatalf("good kept the connection from a peer with %s ticket: %v", name, err)
			}
			if good.isAdmitted(bad.ID()) {
				t.Errorf("good.isAdmitted(bad) = true; want false")
			}
			if _, err := good.FetchFrom(ctx, bad.AddrInfo(), bc); !errors.Is(err, ErrNotAdmitted) {
				t.Errorf("good.FetchFrom(bad) = %v; want ErrNotAdmitted", err)
			}
		})
	}
}

func TestAdmissionServerTicketChecked(t *testing.T) {
	// A client refuses data from a server whose ticket does not verify.
	tr := newFakeTracker(t)
	forger := newFakeTracker(t)
	client := newTestNode(t, tr)
	server := newTestNode(t, tr, func(o *Options) {
		o.Tickets = TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
			return forger.sign(p.String(), time.Now(), time.Hour), nil
		})
	})
	c, _ := server.store.put(t, catalog.ChunkSize)
	if _, err := client.FetchFrom(testCtx(t), server.AddrInfo(), c); !errors.Is(err, ErrNotAdmitted) {
		t.Errorf("FetchFrom(forged server) = %v; want ErrNotAdmitted", err)
	}
}

func TestAdmissionRefusesDHT(t *testing.T) {
	tr := newFakeTracker(t)
	boot := newTestNode(t, tr, func(o *Options) { o.AdmitTimeout = 2 * time.Second })
	bootstrap := func(context.Context) (BootstrapList, error) {
		return BootstrapList{Peers: []peer.AddrInfo{boot.AddrInfo()}}, nil
	}
	n1 := newTestNode(t, tr, func(o *Options) { o.Bootstrap = bootstrap })
	n2 := newTestNode(t, tr, func(o *Options) { o.Bootstrap = bootstrap })
	ctx := testCtx(t)
	for _, n := range []*testNode{n1, n2} {
		select {
		case <-n.Bootstrapped():
		case <-ctx.Done():
			t.Fatal("bootstrap did not finish")
		}
	}
	track := catalog.ManifestID([]byte("track held by n1"))
	if err := n1.Provide(ctx, track); err != nil {
		t.Fatalf("n1.Provide: %v", err)
	}

	forger := newFakeTracker(t)
	kinds := map[string]TicketSource{
		"forged": TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
			return forger.sign(p.String(), time.Now(), time.Hour), nil
		}),
		// The connection stays up for AdmitTimeout: the DHT guard is what
		// refuses it.
		"no ticket": TicketFunc(func(context.Context, peer.ID) (protocol.Ticket, error) {
			return protocol.Ticket{}, nil
		}),
	}
	for name, src := range kinds {
		t.Run(name, func(t *testing.T) {
			bad := newTestNode(t, tr, func(o *Options) { o.Tickets = src })
			// Put boot straight into bad's routing table, so bad's
			// queries reach it and only boot's checks stand in the way.
			bad.AddAddrs(boot.AddrInfo())
			if ok, err := bad.dht.RoutingTable().TryAddPeer(boot.ID(), true, false); !ok || err != nil {
				t.Fatalf("TryAddPeer = %v, %v; want true", ok, err)
			}
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if ais, _ := bad.FindProviders(qctx, track, 5); len(ais) != 0 {
				t.Errorf("bad.FindProviders = %v; want nothing", ais)
			}
			badTrack := catalog.ManifestID([]byte("track announced by the bad node " + name))
			pctx, cancel2 := context.WithTimeout(ctx, 5*time.Second)
			defer cancel2()
			_ = bad.Provide(pctx, badTrack) // may fail or claim success; what matters is below
			for _, n := range []*testNode{boot, n1, n2} {
				fctx, cancel3 := context.WithTimeout(ctx, 5*time.Second)
				ais, _ := n.FindProviders(fctx, badTrack, 5)
				cancel3()
				for _, ai := range ais {
					if ai.ID == bad.ID() {
						t.Errorf("admitted node found the unadmitted node as a provider")
					}
				}
				if n.dht.RoutingTable().Find(bad.ID()) != "" {
					t.Errorf("unadmitted node is in an admitted node's routing table")
				}
			}
		})
	}
}

func TestTicketRenewal(t *testing.T) {
	tr := newFakeTracker(t)
	clk := clock.NewFake(time.Now())
	const life = time.Hour
	issued := make(chan protocol.Ticket, 16)
	renewing := TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
		tk := tr.sign(p.String(), clk.Now(), life)
		select {
		case issued <- tk:
		default:
		}
		return tk, nil
	})
	var calls atomic.Int32
	oneShot := TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
		if calls.Add(1) > 1 {
			return protocol.Ticket{}, errors.New("tracker unreachable")
		}
		return tr.sign(p.String(), clk.Now(), life), nil
	})
	withClock := func(o *Options) {
		o.Clock = clk
		o.Tickets = TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
			return tr.sign(p.String(), clk.Now(), life), nil
		})
	}
	b := newTestNode(t, tr, withClock)
	seen := make(chan protocol.Ticket, 64)
	b.admitHook = func(_ peer.ID, tk protocol.Ticket) {
		select {
		case seen <- tk:
		default:
		}
	}
	a := newTestNode(t, tr, withClock, func(o *Options) { o.Tickets = renewing })
	<-issued // a's first ticket
	lapsing := newTestNode(t, tr, withClock, func(o *Options) { o.Tickets = oneShot })
	ctx := testCtx(t)
	c, data := b.store.put(t, catalog.ChunkSize)
	mustFetch(t, ctx, a, b.AddrInfo(), c, data)
	mustFetch(t, ctx, lapsing, b.AddrInfo(), c, data)
	var first time.Time
	for first.IsZero() {
		select {
		case tk := <-seen:
			if tk.PeerID == a.ID().String() {
				first = tk.Expires()
			}
		case <-ctx.Done():
			t.Fatal("b never saw a's ticket")
		}
	}

	w := watchDisconnect(t, b.Node)
	clk.Advance(life*2/3 + time.Minute) // a renews at 2/3 of its lifetime
	select {
	case <-issued:
	case <-ctx.Done():
		t.Fatal("a did not renew its ticket")
	}
	for {
		var tk protocol.Ticket
		select {
		case tk = <-seen:
		case <-ctx.Done():
			t.Fatal("b never received a's renewed ticket")
		}
		if tk.PeerID == a.ID().String() && tk.Expires().After(first) {
			break
		}
	}
	clk.Advance(life/3 + time.Minute) // past the first tickets' expiry
	if !b.isAdmitted(a.ID()) {
		t.Errorf("b.isAdmitted(a) after a renewed = false; want true")
	}
	if err := w.wait(ctx, lapsing.ID()); err != nil {
		t.Errorf("b kept a peer whose ticket expired: %v", err)
	}
	if b.isAdmitted(lapsing.ID()) {
		t.Errorf("b.isAdmitted(lapsing) after expiry = true; want false")
	}
}
