package startbench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/node"
	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/sim/shaper"
)

// Options configure a run.
type Options struct {
	// RTT is the round trip the shaper adds (half on each side's sends).
	// Zero means 40 ms.
	RTT time.Duration
	// Runs is how many fetches of each kind; zero means 30.
	Runs int
	// ChunkSize is the size of the fetched chunk; zero means
	// catalog.ChunkSize (16 KiB).
	ChunkSize int
	// Dir holds the origin's store and certificate; "" means a temporary
	// directory removed afterwards.
	Dir string
	// Logger: nil discards.
	Logger *slog.Logger
}

// Path names one way of fetching the chunk.
type Path string

// The measured paths.
const (
	PeerCold   Path = "peer, cold (dial + first request)"
	PeerWarm   Path = "peer, warm (open connection)"
	OriginCold Path = "origin HTTP/3, cold (new connection)"
	OriginWarm Path = "origin HTTP/3, warm (open connection)"
)

// pingPath holds ping samples while the median is taken.
const pingPath Path = "ping"

// Paths lists the paths in report order.
var Paths = []Path{PeerCold, PeerWarm, OriginCold, OriginWarm}

// Report holds every sample, by path.
type Report struct {
	// RTT is the round trip the shaper adds; PingRTT is the median round
	// trip libp2p's ping measured over the same shaped path (warm), which
	// adds both hosts' network stacks to it. Figures in RTTs use PingRTT
	// when measured: it is the network round trip every request pays.
	RTT       time.Duration
	PingRTT   time.Duration
	ChunkSize int
	Samples   map[Path][]time.Duration
}

// unit is the round trip figures are expressed in.
func (r *Report) unit() time.Duration {
	if r.PingRTT > 0 {
		return r.PingRTT
	}
	return r.RTT
}

// Quantile returns the q-quantile (nearest rank) of a path's samples.
func (r *Report) Quantile(p Path, q float64) time.Duration {
	s := append([]time.Duration(nil), r.Samples[p]...)
	if len(s) == 0 {
		return 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// RTTs expresses d in measured round trips (see PingRTT).
func (r *Report) RTTs(d time.Duration) float64 {
	if r.unit() == 0 {
		return 0
	}
	return float64(d) / float64(r.unit())
}

// ShapedRTTs expresses d in the shaper's configured round trips.
func (r *Report) ShapedRTTs(d time.Duration) float64 {
	if r.RTT == 0 {
		return 0
	}
	return float64(d) / float64(r.RTT)
}

// Print writes the report as a table with the targets.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "first %d bytes, shaped RTT %v, measured ping RTT %.2f ms (median), %d runs per path\n\n",
		r.ChunkSize, r.RTT, ms(r.PingRTT), len(r.Samples[PeerCold]))
	fmt.Fprintf(w, "%-40s %10s %10s %10s %10s %12s\n", "path", "median ms", "p90 ms", "median RTT", "p90 RTT", "median/shaped")
	for _, p := range Paths {
		m, p90 := r.Quantile(p, 0.5), r.Quantile(p, 0.9)
		fmt.Fprintf(w, "%-40s %10.1f %10.1f %10.2f %10.2f %12.2f\n", p, ms(m), ms(p90), r.RTTs(m), r.RTTs(p90), r.ShapedRTTs(m))
	}
	cold, warm, oc := r.Quantile(PeerCold, 0.5), r.Quantile(PeerWarm, 0.5), r.Quantile(OriginCold, 0.5)
	fmt.Fprintf(w, "\ntargets (medians): peer cold %.2f RTT (<= 2.2) %s; peer warm %.2f RTT (<= 1.2) %s; peer cold / origin cold %.2f (<= 1.1) %s\n",
		r.RTTs(cold), verdict(r.RTTs(cold) <= 2.2), r.RTTs(warm), verdict(r.RTTs(warm) <= 1.2), float64(cold)/float64(max(oc, 1)), verdict(float64(cold) <= 1.1*float64(oc)))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// memStore is the serving node's chunk store.
type memStore struct {
	mu sync.Mutex // guards m
	m  map[cid.Cid][]byte
}

func (s *memStore) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.m[c]; ok {
		return d, nil
	}
	return nil, errors.New("not found")
}

func (s *memStore) Has(c cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[c]
	return ok
}

// bench holds the running parts.
type bench struct {
	opts    Options
	shape   shaper.Options
	tracker ed25519.PrivateKey
	keys    map[string]ed25519.PublicKey
	chunk   cid.Cid
	data    []byte
}

// Run measures every path opts.Runs times.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.RTT == 0 {
		opts.RTT = 40 * time.Millisecond
	}
	if opts.Runs == 0 {
		opts.Runs = 30
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = catalog.ChunkSize
	}
	if opts.RTT < 0 || opts.Runs < 0 || opts.ChunkSize < 0 || opts.ChunkSize > catalog.MaxChunkSize {
		return nil, fmt.Errorf("startbench: bad options %+v", opts)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "chorus-startbench-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		opts.Dir = d
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	b := &bench{
		opts:    opts,
		shape:   shaper.Options{Delay: opts.RTT / 2, Seed: 1, Precise: true},
		tracker: priv,
		keys:    map[string]ed25519.PublicKey{"bench": pub},
		data:    make([]byte, opts.ChunkSize),
	}
	if _, err := rand.Read(b.data); err != nil {
		return nil, err
	}
	b.chunk = catalog.ChunkCID(b.data)
	rep := &Report{RTT: opts.RTT, ChunkSize: opts.ChunkSize, Samples: map[Path][]time.Duration{}}
	if err := b.peerPaths(ctx, rep); err != nil {
		return nil, err
	}
	if err := b.originPaths(ctx, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// newNode starts a node on loopback whose UDP sends are shaped.
func (b *bench) newNode(ctx context.Context, store node.Store) (*node.Node, error) {
	return node.New(ctx, node.Options{
		TrackerKeys: func() map[string]ed25519.PublicKey { return b.keys },
		Tickets: node.TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
			now := time.Now()
			return protocol.SignTicket(protocol.TicketBody{
				Version: protocol.TicketVersion, PeerID: p.String(), Account: "bench",
				IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix(), KeyID: "bench",
			}, b.tracker), nil
		}),
		Store:     store,
		Logger:    b.opts.Logger,
		ListenUDP: shaper.ListenUDP(b.shape),
	})
}

// peerPaths measures cold and warm fetches from a serving node. Each cold
// run uses a fresh fetching node, so nothing about the server is known but
// its address.
func (b *bench) peerPaths(ctx context.Context, rep *Report) error {
	server, err := b.newNode(ctx, &memStore{m: map[cid.Cid][]byte{b.chunk: b.data}})
	if err != nil {
		return fmt.Errorf("startbench: serving node: %w", err)
	}
	defer server.Close()
	ai := server.AddrInfo()
	for i := 0; i < b.opts.Runs; i++ {
		cl, err := b.newNode(ctx, nil)
		if err != nil {
			return fmt.Errorf("startbench: fetching node: %w", err)
		}
		start := time.Now()
		data, err := cl.FetchFrom(ctx, ai, b.chunk)
		d := time.Since(start)
		if err == nil && len(data) != len(b.data) {
			err = fmt.Errorf("got %d bytes", len(data))
		}
		if err != nil {
			cl.Close()
			return fmt.Errorf("startbench: cold fetch %d: %w", i, err)
		}
		rep.Samples[PeerCold] = append(rep.Samples[PeerCold], d)
		if i == 0 {
			// Warm runs reuse the first fetching node's connection; so
			// does the ping that measures the path's round trip.
			var pings []time.Duration
			for j := 0; j < b.opts.Runs; j++ {
				d, err := cl.Ping(ctx, ai.ID)
				if err != nil {
					cl.Close()
					return fmt.Errorf("startbench: ping: %w", err)
				}
				pings = append(pings, d)
			}
			rep.Samples[pingPath] = pings
			rep.PingRTT = rep.Quantile(pingPath, 0.5)
			delete(rep.Samples, pingPath)
			for j := 0; j < b.opts.Runs; j++ {
				start := time.Now()
				if _, err := cl.Fetch(ctx, ai.ID, b.chunk); err != nil {
					cl.Close()
					return fmt.Errorf("startbench: warm fetch %d: %w", j, err)
				}
				rep.Samples[PeerWarm] = append(rep.Samples[PeerWarm], time.Since(start))
			}
		}
		if err := cl.Close(); err != nil {
			return err
		}
	}
	return nil
}

// originPaths measures HTTP/3 GETs of the chunk from an origin whose UDP
// sends are shaped, through a client whose UDP sends are shaped too.
func (b *bench) originPaths(ctx context.Context, rep *Report) error {
	store, err := origin.OpenDirStore(filepath.Join(b.opts.Dir, "chunks"))
	if err != nil {
		return err
	}
	if err := store.Put(ctx, b.chunk, b.data); err != nil {
		return err
	}
	cert, roots, err := origin.DevCertificate(filepath.Join(b.opts.Dir, "tls"), nil)
	if err != nil {
		return err
	}
	srv, err := origin.New(origin.Options{Store: store, TLS: origin.ServerTLSConfig(cert), Logger: b.opts.Logger})
	if err != nil {
		return err
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	shaped, err := shaper.Wrap(udp, b.shape)
	if err != nil {
		udp.Close()
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, shaped, nil) }()
	defer func() { stop(); <-done }()
	url := fmt.Sprintf("https://%s%s%s", udp.LocalAddr(), protocol.PathChunkBase, b.chunk)
	tlsConf := &tls.Config{RootCAs: roots, NextProtos: []string{http3.NextProtoH3}}

	get := func(hc *http.Client) (time.Duration, error) {
		start := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && (resp.StatusCode != http.StatusOK || n != int64(len(b.data))) {
			err = fmt.Errorf("status %s, %d bytes", resp.Status, n)
		}
		return time.Since(start), err
	}
	newClient := func() (*http.Client, *http3.Transport, func(), error) {
		cu, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, nil, nil, err
		}
		cpc, err := shaper.Wrap(cu, b.shape)
		if err != nil {
			cu.Close()
			return nil, nil, nil, err
		}
		qt := &quic.Transport{Conn: cpc}
		tr := &http3.Transport{
			TLSClientConfig: tlsConf,
			Dial: func(ctx context.Context, addr string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
				ua, err := net.ResolveUDPAddr("udp", addr)
				if err != nil {
					return nil, err
				}
				return qt.DialEarly(ctx, ua, tc, qc)
			},
		}
		cleanup := func() { tr.Close(); qt.Close(); cpc.Close() }
		return &http.Client{Transport: tr}, tr, cleanup, nil
	}
	for i := 0; i < b.opts.Runs; i++ {
		hc, _, cleanup, err := newClient()
		if err != nil {
			return err
		}
		d, err := get(hc)
		if err != nil {
			cleanup()
			return fmt.Errorf("startbench: origin cold fetch %d: %w", i, err)
		}
		rep.Samples[OriginCold] = append(rep.Samples[OriginCold], d)
		if i == 0 {
			for j := 0; j < b.opts.Runs; j++ {
				d, err := get(hc)
				if err != nil {
					cleanup()
					return fmt.Errorf("startbench: origin warm fetch %d: %w", j, err)
				}
				rep.Samples[OriginWarm] = append(rep.Samples[OriginWarm], d)
			}
		}
		cleanup()
	}
	return nil
}
