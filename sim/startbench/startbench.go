package startbench

import (
	"bytes"
	"context"
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
	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/node"
	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/sim/cluster"
	"github.com/chorus-music/chorus/sim/shaper"
)

// Options configure a run. Zero values take the defaults in brackets.
type Options struct {
	// RTT is the round trip the shaper adds, half on each side's sends
	// [40 ms].
	RTT time.Duration
	// BytesPerSecond is every party's uplink rate [6,250,000: 50 Mbit/s].
	BytesPerSecond int64
	// Runs is how many plays of each path [20].
	Runs int
	// Seconds is the track's length; at 160 kbit/s it has Seconds*20,000
	// bytes [240].
	Seconds float64
	// Dir holds every component's data; "" means a temporary directory
	// removed afterwards.
	Dir string
	// Logger: nil discards.
	Logger *slog.Logger
}

func (o *Options) defaults() error {
	if o.RTT == 0 {
		o.RTT = 40 * time.Millisecond
	}
	if o.BytesPerSecond == 0 {
		o.BytesPerSecond = 50_000_000 / 8
	}
	if o.Runs == 0 {
		o.Runs = 20
	}
	if o.Seconds == 0 {
		o.Seconds = 240
	}
	if o.RTT < 0 || o.BytesPerSecond < 0 || o.Runs < 0 || !(o.Seconds >= 1 && o.Seconds <= samples.MaxSeconds) {
		return fmt.Errorf("startbench: bad options: RTT %v, rate %d B/s, %d runs, %v s", o.RTT, o.BytesPerSecond, o.Runs, o.Seconds)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Path names one way of getting the track.
type Path string

// The measured paths, and the floors computed from the link.
const (
	FloorCold  Path = "physical floor, cold"
	FloorWarm  Path = "physical floor, warm"
	OriginCold Path = "HTTP/3 origin, cold"
	OriginWarm Path = "HTTP/3 origin, warm"
	PeerCold   Path = "Chorus, one peer, cold"
	PeerWarm   Path = "Chorus, one peer, warm"
	TwoCold    Path = "Chorus, two peers, cold"
	TwoWarm    Path = "Chorus, two peers, warm"
	// The fresh process, as `chorus play` runs: a new tracker client and
	// origin connection, the first 20,000 B only (an origin is asked at
	// most 15 s of audio ahead), the origins from the start's answer, the
	// connection to those of the network list an earlier process saved
	// opened at once.
	FreshSaved Path = "fresh process, saved session"
	FreshLogin Path = "fresh process, login"
	// The same without a saved network list (a first run in a new data
	// directory): the origin's connection opens when the start answers.
	URLOnlySaved Path = "tracker URL only, saved"
	URLOnlyLogin Path = "tracker URL only, login"
)

// Paths lists the paths in report order.
var Paths = []Path{FloorCold, FloorWarm, OriginCold, OriginWarm, PeerCold, PeerWarm, TwoCold, TwoWarm, FreshSaved, FreshLogin, URLOnlySaved, URLOnlyLogin}

// StartBytes and EarlyBytes are the first two marks: 1 s and 16 s of audio
// at 160 kbit/s. The third mark is the whole track.
const (
	StartBytes = 20_000
	EarlyBytes = 320_000
)

// Mark indexes a sample's three times.
type Mark int

// The marks.
const (
	MarkStart Mark = iota // first StartBytes
	MarkEarly             // first EarlyBytes
	MarkWhole             // the whole track
	numMarks
)

// Sample is one play's times to the three marks.
type Sample [numMarks]time.Duration

// Report holds every sample, by path.
type Report struct {
	Options Options
	// PingRTT is the median round trip libp2p's ping measured over the
	// shaped path (both hosts' stacks added to the shaper's RTT).
	PingRTT time.Duration
	// Argon2 is the median time of one argon2id hash with the tracker's
	// default costs, measured just before each login run (creating an
	// account: the hash and one SQLite write).
	Argon2 time.Duration
	// LoginHash holds, by login path, each run's own argon2id time in the
	// tracker (chorus_tracker_password_check_seconds), in the order of
	// that path's samples: the argon2id that very login paid, under the
	// load of the moment, where Argon2 is a probe beside it.
	LoginHash map[Path][]time.Duration
	// Bytes are the three marks' byte counts (the last is the track's
	// length).
	Bytes   [numMarks]int64
	Samples map[Path][]Sample
}

// Median returns the median time of path p to mark k.
func (r *Report) Median(p Path, k Mark) time.Duration {
	var s []time.Duration
	for _, x := range r.Samples[p] {
		s = append(s, x[k])
	}
	if len(s) == 0 {
		return 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2]
}

// NetMedian returns the median over path p's runs of the time to the first
// StartBytes less that run's own argon2id (LoginHash), or 0 without them.
func (r *Report) NetMedian(p Path) time.Duration {
	h := r.LoginHash[p]
	if len(h) == 0 || len(h) != len(r.Samples[p]) {
		return 0
	}
	s := make([]time.Duration, len(h))
	for i, x := range r.Samples[p] {
		s[i] = x[MarkStart] - h[i]
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2]
}

// Target is one of the targets, as measured.
type Target struct {
	Name  string
	Ratio float64
	Max   float64
}

// Met reports whether the target holds.
func (t Target) Met() bool { return t.Ratio > 0 && t.Ratio <= t.Max }

// Targets returns the targets as ratios of medians within this run.
func (r *Report) Targets() []Target {
	ratio := func(a, b time.Duration) float64 {
		if b <= 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	return []Target{
		{"one peer cold, first 20,000 B / cold floor", ratio(r.Median(PeerCold, MarkStart), r.Median(FloorCold, MarkStart)), 1.1},
		{"one peer warm, first 20,000 B / warm floor", ratio(r.Median(PeerWarm, MarkStart), r.Median(FloorWarm, MarkStart)), 1.2},
		{"one peer cold, whole track / HTTP/3 cold", ratio(r.Median(PeerCold, MarkWhole), r.Median(OriginCold, MarkWhole)), 1.1},
		{"one peer warm, whole track / HTTP/3 warm", ratio(r.Median(PeerWarm, MarkWhole), r.Median(OriginWarm, MarkWhole)), 1.1},
		{"two peers cold, whole track / one peer cold", ratio(r.Median(TwoCold, MarkWhole), r.Median(PeerCold, MarkWhole)), 0.6},
		{"two peers warm, whole track / one peer warm", ratio(r.Median(TwoWarm, MarkWhole), r.Median(PeerWarm, MarkWhole)), 0.6},
		{"fresh, saved session, first 20,000 B / RTT", ratio(r.Median(FreshSaved, MarkStart), r.Options.RTT), 4.5},
		{"fresh, login, (first 20,000 B - argon2id) / RTT", ratio(r.Median(FreshLogin, MarkStart)-r.Argon2, r.Options.RTT), 4.5},
		{"fresh, login, median(first 20,000 B - its own argon2id) / RTT", ratio(r.NetMedian(FreshLogin), r.Options.RTT), 4.5},
		{"tracker URL only, saved, first 20,000 B / RTT", ratio(r.Median(URLOnlySaved, MarkStart), r.Options.RTT), 4.5},
		{"tracker URL only, login, median(first 20,000 B - its own argon2id) / RTT", ratio(r.NetMedian(URLOnlyLogin), r.Options.RTT), 4.5},
	}
}

// Print writes the report as a table with the targets.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "shaped RTT %v, %.1f Mbit/s per uplink, measured ping RTT %.1f ms; track %d B; medians of %d runs\n\n",
		o.RTT, float64(o.BytesPerSecond)*8/1e6, ms(r.PingRTT), r.Bytes[MarkWhole], o.Runs)
	fmt.Fprintf(w, "%-28s %14s %14s %16s\n", "path", fmt.Sprintf("first %d B", r.Bytes[MarkStart]), fmt.Sprintf("first %d B", r.Bytes[MarkEarly]), "whole track")
	for _, p := range Paths {
		fmt.Fprintf(w, "%-28s", p)
		for k := range numMarks {
			d := r.Median(p, k)
			if d == 0 {
				fmt.Fprintf(w, " %16s", "-")
				continue
			}
			fmt.Fprintf(w, " %8.0f ms %4.1fR", ms(d), float64(d)/float64(o.RTT))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n(R: shaped round trips. Fresh process, as chorus play: tracker API over HTTP/3 on a new connection, one\n"+
		"start request with the renewal or the login folded in, bringing the origins; the connection to the origin of\n"+
		"the saved network list opened at once; tracker URL only: no saved list, the origin's connection opens when the\n"+
		"start answers. argon2id here %.0f ms (a probe beside each login run), %.0f ms in the logins themselves (medians).)\n"+
		"targets (ratios of medians in this run; the fresh ones include the tracker's processing):\n", ms(r.Argon2), ms(r.loginHashMedian()))
	for _, t := range r.Targets() {
		v := "met"
		if !t.Met() {
			v = "MISSED"
		}
		fmt.Fprintf(w, "  %-46s %5.2f (<= %.1f) %s\n", t.Name, t.Ratio, t.Max, v)
	}
}

// loginHashMedian is the median argon2id time over every login run.
func (r *Report) loginHashMedian() time.Duration {
	var all []time.Duration
	for _, h := range r.LoginHash {
		all = append(all, h...)
	}
	if len(all) == 0 {
		return 0
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all[(len(all)-1)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// knownPeers is a swarm node whose provider lookups answer at once with
// the benchmark's seeders, as a cached lookup would.
type knownPeers struct {
	*node.Node
	peers []peer.AddrInfo
}

func (k knownPeers) FindProviders(context.Context, cid.Cid, int) ([]peer.AddrInfo, error) {
	for _, ai := range k.peers {
		k.AddAddrs(ai)
	}
	return k.peers, nil
}

var _ client.Swarm = knownPeers{}

// bench holds the running parts.
type bench struct {
	opts    Options
	shape   shaper.Options
	c       *cluster.Cluster
	tr      *client.Tracker
	trackID string
	m       *catalog.Manifest
	plain   []byte // the ingested file: what the player must deliver
	seeders []peer.AddrInfo
	leeches int

	trackerH3 string          // the tracker API over HTTP/3 on a shaped link
	argon2    []time.Duration // one argon2id hash with the tracker's defaults, each login run
	freshRuns int
}

const benchUser, benchPassword = "bench", "bench-password-1"

// Run measures every path opts.Runs times, interleaved so that the load of
// the machine falls on every path alike.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "chorus-startbench-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		opts.Dir = d
	}
	// The shaper's Precise mode polls the clock while packets are due,
	// which at 50 Mbit/s is all the time: on a loaded machine the polling
	// of three links starves the nodes. Without it a packet leaves up to
	// about a millisecond late, which the floors do not count.
	b := &bench{opts: opts, shape: shaper.Options{Delay: opts.RTT / 2, BytesPerSecond: opts.BytesPerSecond, Seed: 1}}
	var err error
	b.c, err = cluster.Start(ctx, cluster.Options{
		Dir:    opts.Dir,
		Logger: opts.Logger,
		WrapOriginUDP: func(pc net.PacketConn) (net.PacketConn, error) {
			return shaper.Wrap(pc, b.shape)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("startbench: cluster: %w", err)
	}
	defer b.c.Close()
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	defer b.tr.Close()
	stop, err := b.serveTrackerH3(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	rep := &Report{Options: opts, Samples: map[Path][]Sample{}, LoginHash: map[Path][]time.Duration{}}
	rep.Bytes = b.marks()
	// The floors: a QUIC handshake and a request (cold) or the request
	// alone (warm), then the bytes at the link rate.
	var fc, fw Sample
	for k, n := range rep.Bytes {
		wire := time.Duration(float64(n) / float64(opts.BytesPerSecond) * 1e9)
		fc[k], fw[k] = 2*opts.RTT+wire, opts.RTT+wire
	}
	rep.Samples[FloorCold], rep.Samples[FloorWarm] = []Sample{fc}, []Sample{fw}
	for i := 0; i < opts.Runs; i++ {
		cold, warm, err := b.originRun(ctx)
		if err != nil {
			return nil, fmt.Errorf("startbench: origin run %d: %w", i, err)
		}
		rep.Samples[OriginCold] = append(rep.Samples[OriginCold], cold)
		rep.Samples[OriginWarm] = append(rep.Samples[OriginWarm], warm)
		for _, np := range []int{1, 2} {
			cold, warm, ping, err := b.peerRun(ctx, b.seeders[:np], i == 0 && np == 1)
			if err != nil {
				return nil, fmt.Errorf("startbench: %d-peer run %d: %w", np, i, err)
			}
			if ping > 0 {
				rep.PingRTT = ping
			}
			pc, pw := PeerCold, PeerWarm
			if np == 2 {
				pc, pw = TwoCold, TwoWarm
			}
			rep.Samples[pc] = append(rep.Samples[pc], cold)
			rep.Samples[pw] = append(rep.Samples[pw], warm)
		}
		for _, p := range []Path{FreshSaved, FreshLogin, URLOnlySaved, URLOnlyLogin} {
			login := p == FreshLogin || p == URLOnlyLogin
			d, hash, err := b.freshRun(ctx, login, p == URLOnlySaved || p == URLOnlyLogin)
			if err != nil {
				return nil, fmt.Errorf("startbench: %s, run %d: %w", p, i, err)
			}
			rep.Samples[p] = append(rep.Samples[p], Sample{MarkStart: d})
			if login {
				rep.LoginHash[p] = append(rep.LoginHash[p], hash)
			}
		}
	}
	sort.Slice(b.argon2, func(i, j int) bool { return b.argon2[i] < b.argon2[j] })
	if len(b.argon2) > 0 {
		rep.Argon2 = b.argon2[(len(b.argon2)-1)/2]
	}
	return rep, nil
}

// setup ingests the track, logs in and starts two seeders holding it.
func (b *bench) setup(ctx context.Context) error {
	user, password := benchUser, benchPassword
	if err := b.c.AddUser(ctx, user, password); err != nil {
		return err
	}

	// 10 kHz mono 16-bit PCM: 160 kbit/s, 20,000 bytes a second.
	path := filepath.Join(b.opts.Dir, "Bench - Start.wav")
	if err := samples.WriteFile(path, samples.Spec{Seconds: b.opts.Seconds, SampleRate: 10000, Channels: 1, Seed: 7}); err != nil {
		return err
	}
	var err error
	if b.plain, err = os.ReadFile(path); err != nil {
		return err
	}
	ts, err := b.c.Ingest(ctx, path)
	if err != nil {
		return fmt.Errorf("startbench: ingest: %w", err)
	}
	b.trackID = ts[0].ID
	pins, err := client.OpenPins(filepath.Join(b.opts.Dir, "tracker-keys.json"))
	if err != nil {
		return err
	}
	if b.tr, err = client.NewTracker(client.TrackerOptions{URL: b.c.TrackerURL, Pins: pins}); err != nil {
		return err
	}
	if err := b.tr.Login(ctx, user, password); err != nil {
		return err
	}
	if b.m, err = b.tr.Manifest(ctx, b.trackID); err != nil {
		return err
	}
	if b.m.ByteLength != int64(len(b.plain)) {
		return fmt.Errorf("startbench: manifest says %d bytes, the file has %d", b.m.ByteLength, len(b.plain))
	}
	for i := range 2 {
		s, err := b.join(ctx, fmt.Sprintf("seeder%d", i+1))
		if err != nil {
			return fmt.Errorf("startbench: seeder: %w", err)
		}
		context.AfterFunc(ctx, func() { s.Close() })
		for _, ch := range b.m.Chunks {
			data, err := b.c.Chunks.Get(ctx, ch.CID)
			if err != nil {
				return err
			}
			if err := s.Cache.Put(ctx, ch.CID, data); err != nil {
				return err
			}
		}
		b.seeders = append(b.seeders, s.Node.AddrInfo())
	}
	return nil
}

// marks returns the byte counts of the three marks (no mark past the
// track's end).
func (b *bench) marks() [numMarks]int64 {
	n := b.m.ByteLength
	return [numMarks]int64{min(StartBytes, n), min(EarlyBytes, n), n}
}

// join starts a node with its own shaped link and an empty cache.
func (b *bench) join(ctx context.Context, name string) (*client.Membership, error) {
	return client.JoinSwarm(ctx, b.tr, client.SwarmOptions{
		Dir:       filepath.Join(b.opts.Dir, name),
		ListenUDP: shaper.ListenUDP(b.shape),
		Logger:    b.opts.Logger.With("node", name),
	})
}

// peerRun plays the track on a new node from seeders (cold), then again
// with a new client over the open connections (warm). With ping it also
// measures the round trip to the first seeder.
func (b *bench) peerRun(ctx context.Context, seeders []peer.AddrInfo, ping bool) (cold, warm Sample, rtt time.Duration, err error) {
	b.leeches++
	l, err := b.join(ctx, fmt.Sprintf("leecher%d", b.leeches))
	if err != nil {
		return cold, warm, 0, err
	}
	defer l.Close()
	sw := knownPeers{Node: l.Node, peers: seeders}
	if cold, err = b.play(ctx, sw); err != nil {
		return cold, warm, 0, fmt.Errorf("cold: %w", err)
	}
	if warm, err = b.play(ctx, sw); err != nil {
		return cold, warm, 0, fmt.Errorf("warm: %w", err)
	}
	if ping {
		var ds []time.Duration
		for range 10 {
			d, err := l.Node.Ping(ctx, seeders[0].ID)
			if err != nil {
				return cold, warm, 0, fmt.Errorf("ping: %w", err)
			}
			ds = append(ds, d)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		rtt = ds[len(ds)/2]
	}
	return cold, warm, rtt, nil
}

// play plays the whole track with a new client on sw, from its peers only,
// reading it in order and checking every byte.
func (b *bench) play(ctx context.Context, sw client.Swarm) (Sample, error) {
	var s Sample
	cl, err := client.New(client.Options{
		Tracker: b.tr,
		Swarm:   sw,
		Logger:  b.opts.Logger,
		Sched:   sched.Config{BufferAhead: time.Duration(b.opts.Seconds*float64(time.Second)) + time.Second},
	})
	if err != nil {
		return s, err
	}
	defer cl.Close()
	if err := cl.Prepare(ctx, b.trackID); err != nil {
		return s, err
	}
	start := time.Now()
	pb, err := cl.Play(ctx, b.trackID)
	if err != nil {
		return s, err
	}
	defer pb.Close()
	marks := b.marks()
	buf := make([]byte, 64<<10)
	var pos int64
	k := Mark(0)
	for k < numMarks {
		n, err := pb.Read(buf)
		if n > 0 && !bytes.Equal(buf[:n], b.plain[pos:pos+int64(n)]) {
			return s, fmt.Errorf("bytes %d-%d differ from the ingested file", pos, pos+int64(n))
		}
		pos += int64(n)
		for k < numMarks && pos >= marks[k] {
			s[k] = time.Since(start)
			k++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
	}
	if pos != b.m.ByteLength {
		return s, fmt.Errorf("read %d of %d bytes", pos, b.m.ByteLength)
	}
	return s, nil
}

// originRun fetches every chunk of the track over HTTP/3 on a new
// connection (cold), then again on the same connection (warm).
func (b *bench) originRun(ctx context.Context) (cold, warm Sample, err error) {
	hc, closeClient, err := b.shapedH3Client()
	if err != nil {
		return cold, warm, err
	}
	defer closeClient()
	if cold, err = b.fetchAll(ctx, hc); err != nil {
		return cold, warm, fmt.Errorf("cold: %w", err)
	}
	if warm, err = b.fetchAll(ctx, hc); err != nil {
		return cold, warm, fmt.Errorf("warm: %w", err)
	}
	return cold, warm, nil
}

// The HTTP/3 reference asks for the chunks in track order with a window of
// requests in flight that starts at originFirstWindow and grows by one with
// every answer (doubling each round trip, as slow start does) up to
// originMaxWindow: 64 chunks (1 MiB) are four times the 40 ms x 50 Mbit/s
// path's bandwidth-delay product. Asking for all at once would make the
// first chunks share the link with the whole track (quic-go sends streams
// round-robin); a fixed small window would cap the throughput.
const (
	originFirstWindow = 4
	originMaxWindow   = 64
)

// fetchAll asks the origin for every chunk, in order, within the growing
// window, and records when the first bytes of the track, in order, have
// arrived and verified.
func (b *bench) fetchAll(ctx context.Context, hc *http.Client) (Sample, error) {
	var s Sample
	marks := b.marks()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex // guards the fields below
		done   = make([]bool, len(b.m.Chunks))
		contig int
		pos    int64
		k      Mark
		first  error
	)
	start := time.Now()
	var wg sync.WaitGroup
	slots := make(chan struct{}, originMaxWindow)
	for range originMaxWindow - originFirstWindow {
		slots <- struct{}{} // closed until answers open them
	}
	grown := originFirstWindow
	for i, ch := range b.m.Chunks {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				<-slots
				mu.Lock()
				defer mu.Unlock()
				if grown < originMaxWindow {
					grown++
					<-slots // one more in flight from now on
				}
			}()
			err := b.get(ctx, hc, ch)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("chunk %d: %w", i, err)
					cancel()
				}
				return
			}
			done[i] = true
			for contig < len(done) && done[contig] {
				pos += int64(b.m.Chunks[contig].Size)
				contig++
			}
			for k < numMarks && pos >= marks[k] {
				s[k] = time.Since(start)
				k++
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return s, first
	}
	return s, ctx.Err()
}

func (b *bench) get(ctx context.Context, hc *http.Client, ch catalog.Chunk) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.c.OriginURL+protocol.PathChunkBase+ch.CID.String(), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	if !catalog.VerifyCID(ch.CID, data) {
		return errors.New("chunk does not match its CID")
	}
	return nil
}

// shapedH3Client returns an HTTP/3 client whose UDP sends are shaped, and
// its cleanup.
func (b *bench) shapedH3Client() (*http.Client, func(), error) {
	cu, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, err
	}
	cpc, err := shaper.Wrap(cu, b.shape)
	if err != nil {
		cu.Close()
		return nil, nil, err
	}
	qt := &quic.Transport{Conn: cpc}
	tr := &http3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: b.c.OriginCA, NextProtos: []string{http3.NextProtoH3}},
		Dial: func(ctx context.Context, addr string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			ua, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				return nil, err
			}
			return qt.DialEarly(ctx, ua, tc, qc)
		},
	}
	return &http.Client{Transport: tr}, func() { tr.Close(); qt.Close(); cpc.Close() }, nil
}

// serveTrackerH3 serves the tracker's API over HTTP/3 on a shaped link
// (the dev certificate the origin uses), as `chorus tracker --serve-origin`
// does, and returns how to stop it.
func (b *bench) serveTrackerH3(ctx context.Context) (func(), error) {
	cert, _, err := origin.DevCertificate(filepath.Join(b.opts.Dir, "tls"), nil)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	pc, err := shaper.Wrap(udp, b.shape)
	if err != nil {
		udp.Close()
		return nil, err
	}
	srv := &http3.Server{Handler: b.c.Tracker, TLSConfig: http3.ConfigureTLSConfig(origin.ServerTLSConfig(cert))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(pc); err != nil && ctx.Err() == nil {
			b.opts.Logger.Debug("tracker HTTP/3", "err", err)
		}
	}()
	b.trackerH3 = "https://" + udp.LocalAddr().String()
	return func() { srv.Close(); pc.Close(); <-done }, nil
}

// freshRun is a new process's first play, as chorus play makes it: a
// tracker client on a new HTTP/3 connection that resumes the saved
// session (its access token expired: the start request renews it) or logs
// in (the start request carries the password: client.Tracker.
// LoginOnStart); the origins from the network list the start brings
// (client.Options.OriginsFromNetwork), the connections to those of the
// list an earlier process saved opened at once (none, urlOnly: a process
// that knows only the tracker's URL). It returns the time to the first
// 20,000 bytes, with the argon2id time the tracker spent on the login.
func (b *bench) freshRun(ctx context.Context, login, urlOnly bool) (d, hash time.Duration, err error) {
	b.freshRuns++
	dir := filepath.Join(b.opts.Dir, fmt.Sprintf("fresh%d", b.freshRuns))
	sessionFile := filepath.Join(b.opts.Dir, "fresh-session.json")
	pinsFile := filepath.Join(b.opts.Dir, "fresh-pins.json")
	networkFile := filepath.Join(b.opts.Dir, "fresh-network.json")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	if _, err := os.Stat(sessionFile); errors.Is(err, os.ErrNotExist) {
		// A session saved by an earlier process, its access token spent.
		if err := b.freshSession(ctx, sessionFile, pinsFile, networkFile); err != nil {
			return 0, 0, err
		}
	}
	if login {
		start := time.Now()
		if err := b.c.AddUser(ctx, fmt.Sprintf("argon2-probe-%d", b.freshRuns), benchPassword); err != nil {
			return 0, 0, err
		}
		b.argon2 = append(b.argon2, time.Since(start))
	}
	thc, tclose, err := b.shapedH3Client()
	if err != nil {
		return 0, 0, err
	}
	defer tclose()
	ohc, oclose, err := b.shapedH3Client()
	if err != nil {
		return 0, 0, err
	}
	defer oclose()

	hashBefore := b.hashSeconds()
	start := time.Now()
	pins, err := client.OpenPins(pinsFile)
	if err != nil {
		return 0, 0, err
	}
	opts := client.TrackerOptions{URL: b.trackerH3, HTTPClient: thc, Pins: pins}
	if !login {
		opts.SessionFile, opts.Clock = sessionFile, later{}
	}
	if !urlOnly {
		opts.NetworkFile = networkFile
	}
	tr, err := client.NewTracker(opts)
	if err != nil {
		return 0, 0, err
	}
	defer tr.Close()
	// As chorus play: the origins come from the network list the start
	// brings; the connections to those of the list an earlier process
	// saved open at once, beside the start.
	copts := client.Options{Tracker: tr, Logger: b.opts.Logger, OriginsFromNetwork: func(ni protocol.NetworkInfo) ([]client.ChunkSource, error) {
		var srcs []client.ChunkSource
		for _, u := range ni.Origins {
			src, err := client.NewOriginSource(u, ohc)
			if err != nil {
				return nil, err
			}
			srcs = append(srcs, src)
		}
		return srcs, nil
	}}
	saved, ok, err := tr.SavedNetwork()
	if err != nil || ok == urlOnly {
		return 0, 0, fmt.Errorf("saved network list: %v, %w", ok, err)
	}
	for _, u := range saved.Origins {
		src, err := client.NewOriginSource(u, ohc)
		if err != nil {
			return 0, 0, err
		}
		go src.Connect(ctx) //nolint:errcheck // a failed warm-up only costs the first request its handshake
	}
	if login {
		// As a client without a saved session logs in: through its first
		// start, the login, manifest and key in one round trip.
		tr.LoginOnStart(benchUser, benchPassword)
	} else if ok, err := tr.Resume(); err != nil || !ok {
		return 0, 0, fmt.Errorf("resume the saved session: %v, %w", ok, err)
	}
	cl, err := client.New(copts)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	pb, err := cl.Play(ctx, b.trackID)
	if err != nil {
		return 0, 0, err
	}
	defer pb.Close()
	buf := make([]byte, StartBytes)
	if _, err := io.ReadFull(pb, buf); err != nil {
		return 0, 0, err
	}
	d = time.Since(start)
	hash = time.Duration((b.hashSeconds() - hashBefore) * float64(time.Second))
	if !bytes.Equal(buf, b.plain[:StartBytes]) {
		return 0, 0, errors.New("the first bytes differ from the ingested file")
	}
	return d, hash, nil
}

// hashSeconds is the time the tracker has spent checking passwords so far
// (the sum of chorus_tracker_password_check_seconds).
func (b *bench) hashSeconds() float64 {
	mfs, err := b.c.Tracker.Registry().Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "chorus_tracker_password_check_seconds" {
			for _, m := range mf.GetMetric() {
				return m.GetHistogram().GetSampleSum()
			}
		}
	}
	return 0
}

// freshSession logs in once, as an earlier process would have, saving the
// session, the pinned keys and the network list.
func (b *bench) freshSession(ctx context.Context, sessionFile, pinsFile, networkFile string) error {
	pins, err := client.OpenPins(pinsFile)
	if err != nil {
		return err
	}
	hc, closeHC, err := b.shapedH3Client()
	if err != nil {
		return err
	}
	defer closeHC()
	tr, err := client.NewTracker(client.TrackerOptions{URL: b.trackerH3, HTTPClient: hc, Pins: pins, SessionFile: sessionFile, NetworkFile: networkFile})
	if err != nil {
		return err
	}
	defer tr.Close()
	if err := tr.Login(ctx, benchUser, benchPassword); err != nil {
		return err
	}
	_, err = tr.Network(ctx)
	return err
}

// later is the wall clock an hour ahead: a process restarted after its
// saved access token expired (the refresh token lives for days).
type later struct{}

func (later) Now() time.Time { return time.Now().Add(time.Hour) }

func (later) AfterFunc(d time.Duration, f func()) clock.Timer { return time.AfterFunc(d, f) }
