package trackerbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/store"
)

// Routes the generator can load.
var Routes = []string{"key", "manifest", "search", "ticket"}

// Options configure a run. Zero values take the defaults.
type Options struct {
	// Store is the tracker's store, empty; required. Run does not close it.
	Store     store.Store
	StoreName string // for the report, e.g. "sqlite" or "postgres"
	// Rates are the arrival rates (requests/s) each route is run at, in
	// order; default 10000 and 5000.
	Rates []int
	// Duration bounds each phase; default 3 s. A phase sends at most
	// rate × Duration requests.
	Duration time.Duration
	// Routes to load, from Routes; default all.
	Routes []string
	// Conns bounds the requests in flight (and connections); default 256.
	Conns int
	// Logins is how many logins to time at Argon2; default 20; negative
	// skips.
	Logins int
	// Argon2 is the password cost; zero means the tracker's default.
	Argon2 tracker.Argon2Params
	// Tracks in the catalog; default 50.
	Tracks int
	// Logger receives the benchmark's progress; TrackerLogger the
	// tracker's own logs (nil: discarded; its per-request lines at Info
	// would cost as much as the requests).
	Logger        *slog.Logger
	TrackerLogger *slog.Logger
}

func (o *Options) defaults() error {
	if o.Store == nil {
		return errors.New("trackerbench: no Store")
	}
	if len(o.Rates) == 0 {
		o.Rates = []int{10000, 5000}
	}
	for _, r := range o.Rates {
		if r < 1 || r > 1_000_000 {
			return fmt.Errorf("trackerbench: rate %d outside 1..1000000", r)
		}
	}
	if o.Duration == 0 {
		o.Duration = 3 * time.Second
	}
	if o.Duration < 100*time.Millisecond || o.Duration > 2*time.Minute {
		return fmt.Errorf("trackerbench: duration %v outside 100ms..2m", o.Duration)
	}
	if len(o.Routes) == 0 {
		o.Routes = Routes
	}
	for _, r := range o.Routes {
		if !slices.Contains(Routes, r) {
			return fmt.Errorf("trackerbench: unknown route %q; want some of %s", r, strings.Join(Routes, ","))
		}
	}
	if o.Conns == 0 {
		o.Conns = 256
	}
	if o.Conns < 1 || o.Conns > 10000 {
		return fmt.Errorf("trackerbench: conns %d outside 1..10000", o.Conns)
	}
	if o.Logins == 0 {
		o.Logins = 20
	}
	if o.Tracks == 0 {
		o.Tracks = 50
	}
	if o.Tracks < 1 || o.Tracks > 10000 {
		return fmt.Errorf("trackerbench: tracks %d outside 1..10000", o.Tracks)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TrackerLogger == nil {
		o.TrackerLogger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Phase is one route at one rate.
type Phase struct {
	Route    string
	Rate     int           // target arrivals/s
	Sent     int           // requests sent
	OK       int           // 2xx answers
	Errors   int           // other answers and transport errors
	Elapsed  time.Duration // first due time to last answer
	P50, P90 time.Duration
	P99, Max time.Duration
	// CPU is this process's CPU time (user and system; tracker and
	// generator, not a database server's) per answered request: what the
	// rate would cost on cores not shared with anything else.
	CPU time.Duration
	// Steal is the share of the machine's CPU time during the phase that
	// its hypervisor gave to others (Linux's steal time): on a shared
	// virtual machine, what was missing from the 2 cores; -1 where not
	// measured.
	Steal float64
}

// Achieved is the answered rate.
func (p Phase) Achieved() float64 { return float64(p.OK) / p.Elapsed.Seconds() }

// Report is a run's result.
type Report struct {
	Store     string
	CPUs      int
	Phases    []Phase
	Logins    int
	LoginTime time.Duration // wall time for Logins at LoginConc at once
	LoginConc int
	Argon2    tracker.Argon2Params
}

// Print writes the report as a table.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "store %s, GOMAXPROCS %d, generator and tracker in one process over loopback\n", r.Store, r.CPUs)
	fmt.Fprintf(w, "%-9s %8s %9s %8s %7s %9s %9s %9s %9s %9s %6s\n", "route", "target/s", "answered/s", "ok", "errors", "p50", "p90", "p99", "max", "cpu/req", "steal")
	for _, p := range r.Phases {
		steal := "-"
		if p.Steal >= 0 {
			steal = fmt.Sprintf("%.1f%%", 100*p.Steal)
		}
		fmt.Fprintf(w, "%-9s %8d %10.0f %8d %7d %9s %9s %9s %9s %7.0fµs %6s\n", p.Route, p.Rate, p.Achieved(), p.OK, p.Errors,
			ms(p.P50), ms(p.P90), ms(p.P99), ms(p.Max), float64(p.CPU)/float64(time.Microsecond), steal)
	}
	if r.Logins > 0 {
		fmt.Fprintf(w, "logins: %d in %v at %d at once = %.1f/s (argon2id t=%d m=%d KiB p=%d)\n", r.Logins, r.LoginTime.Round(time.Millisecond),
			r.LoginConc, float64(r.Logins)/r.LoginTime.Seconds(), r.Argon2.Time, r.Argon2.MemoryK, r.Argon2.Threads)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

const benchPassword = "bench password 1234"

// discardSink takes chunks and keeps none: the tracker's work alone is
// measured.
type discardSink struct{}

func (discardSink) Put(context.Context, cid.Cid, []byte) error { return nil }

// fixture is what the generator's requests use.
type fixture struct {
	base    string
	tracks  []string
	tokens  []string
	peerIDs []string
}

// Run runs the benchmark.
func Run(ctx context.Context, o Options) (Report, error) {
	if err := o.defaults(); err != nil {
		return Report{}, err
	}
	argon := o.Argon2
	srv, err := tracker.New(tracker.Options{
		Store: o.Store, Logger: o.TrackerLogger, Argon2: argon,
		// The load comes from one address: lift the per-network attempt
		// guard, keep the failure throttles (only successes are sent).
		LoginPolicy: tracker.LoginPolicy{AttemptRate: rate.Inf, AttemptBurst: 1},
	})
	if err != nil {
		return Report{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return Report{}, fmt.Errorf("trackerbench: listen: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln) //nolint:errcheck // ends with Shutdown
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Shutdown(sctx) //nolint:errcheck // best effort at the end of a benchmark
		srv.Close()
	}()
	fx, err := setup(ctx, srv, "http://"+ln.Addr().String(), o)
	if err != nil {
		return Report{}, err
	}
	// The load: fasthttp's client, whose CPU per request is a fraction of
	// net/http's, so the generator takes less of the cores it shares with
	// the tracker (and the database) under test. Keep-alive connections,
	// one request in flight on each, as many clients would hold.
	load := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: o.Conns, MaxIdleConnDuration: time.Minute,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxConnWaitTimeout: 30 * time.Second}
	defer load.CloseIdleConnections()
	// Setup and logins, which are not timed per request, use net/http.
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	rep := Report{Store: o.StoreName, CPUs: runtime.GOMAXPROCS(0)}
	// Warm up, unmeasured: open the connections, fill the caches.
	for _, route := range o.Routes {
		wo := o
		wo.Duration = 200 * time.Millisecond
		runPhase(ctx, load, fx, route, 1000, wo)
	}
	// Route by route, each at its rates in turn, so that a route's figures
	// are not taken just after another route's overload (search cannot
	// be answered at 10,000/s here, nor, on PostgreSQL, tickets).
	for _, route := range o.Routes {
		for _, r := range o.Rates {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			o.Logger.Info("phase", "route", route, "rate", r)
			rep.Phases = append(rep.Phases, runPhase(ctx, load, fx, route, r, o))
		}
	}
	if o.Logins > 0 {
		rep.LoginConc = runtime.GOMAXPROCS(0)
		rep.Logins = o.Logins
		rep.Argon2 = argonOrDefault(argon)
		start := time.Now()
		if err := logins(ctx, client, fx.base, o.Logins, rep.LoginConc); err != nil {
			return rep, err
		}
		rep.LoginTime = time.Since(start)
	}
	return rep, nil
}

func argonOrDefault(p tracker.Argon2Params) tracker.Argon2Params {
	if p.Time == 0 {
		p.Time = 2
	}
	if p.MemoryK == 0 {
		p.MemoryK = 64 << 10
	}
	if p.Threads == 0 {
		p.Threads = 2
	}
	return p
}

// setup ingests o.Tracks short generated tracks, creates accounts and
// logs them in, and makes peer IDs for tickets.
func setup(ctx context.Context, srv *tracker.Server, base string, o Options) (*fixture, error) {
	dir, err := os.MkdirTemp("", "chorus-trackerbench-")
	if err != nil {
		return nil, fmt.Errorf("trackerbench: %w", err)
	}
	defer os.RemoveAll(dir)
	fx := &fixture{base: base}
	for i := range o.Tracks {
		p := filepath.Join(dir, fmt.Sprintf("Load Artist - Bench Track %d.wav", i))
		if err := samples.WriteFile(p, samples.Spec{Seconds: 0.2, SampleRate: 8000, Channels: 1, Seed: int64(i + 1)}); err != nil {
			return nil, err
		}
		sum, _, err := srv.Ingest(ctx, p, discardSink{}, nil)
		if err != nil {
			return nil, fmt.Errorf("trackerbench: ingest: %w", err)
		}
		fx.tracks = append(fx.tracks, sum.ID)
	}
	client := &http.Client{Timeout: time.Minute}
	const accounts = 8
	for i := range accounts {
		name := fmt.Sprintf("bench%d", i)
		if err := srv.CreateAccount(ctx, name, benchPassword); err != nil && !errors.Is(err, store.ErrExists) {
			return nil, err
		}
		var s protocol.Session
		if code, err := post(ctx, client, base+protocol.PathLogin, "", protocol.LoginRequest{Username: name, Password: benchPassword}, &s); err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("trackerbench: login %s = %d, %v", name, code, err)
		}
		fx.tokens = append(fx.tokens, s.AccessToken)
	}
	for range 64 {
		priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, err
		}
		id, err := peer.IDFromPrivateKey(priv)
		if err != nil {
			return nil, err
		}
		fx.peerIDs = append(fx.peerIDs, id.String())
	}
	return fx, nil
}

func post(ctx context.Context, c *http.Client, url, token string, body, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // drain for reuse
	return resp.StatusCode, nil
}

// fill sets req to the i-th request of a route.
func (fx *fixture) fill(req *fasthttp.Request, route string, i int) error {
	tok := fx.tokens[i%len(fx.tokens)]
	tr := fx.tracks[i%len(fx.tracks)]
	req.Reset()
	req.Header.SetMethod(fasthttp.MethodGet)
	switch route {
	case "key":
		req.SetRequestURI(fx.base + strings.ReplaceAll(protocol.PathTrackKey, "{id}", tr))
	case "manifest":
		req.SetRequestURI(fx.base + strings.ReplaceAll(protocol.PathManifest, "{id}", tr))
	case "search":
		q := []string{"load", "bench", "track", "artist", fmt.Sprint(i % 50)}[i%5]
		req.SetRequestURI(fx.base + protocol.PathSearch + "?limit=20&q=" + q)
	case "ticket":
		req.SetRequestURI(fx.base + protocol.PathTicket)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/json")
		req.SetBodyString(`{"peer_id":"` + fx.peerIDs[i%len(fx.peerIDs)] + `"}`)
	default:
		return fmt.Errorf("trackerbench: route %q", route)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

type job struct {
	i   int
	due time.Time
}

// runPhase sends rate × Duration requests of route, the i-th due at
// start + i/rate, to at most Conns workers, and times each from its due
// time.
func runPhase(ctx context.Context, client *fasthttp.HostClient, fx *fixture, route string, r int, o Options) Phase {
	n := max(1, int(float64(r)*o.Duration.Seconds()))
	interval := time.Second / time.Duration(r)
	jobs := make(chan job, o.Conns)
	lat := make([]time.Duration, n)
	var okN, errN atomic.Int64
	var wg sync.WaitGroup
	var lastMu sync.Mutex // guards last
	var last time.Time
	for range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for j := range jobs {
				err := fx.fill(req, route, j.i)
				if err == nil {
					err = client.Do(req, resp)
				}
				done := time.Now()
				lat[j.i] = done.Sub(j.due)
				if err == nil && resp.StatusCode() < 300 {
					okN.Add(1)
				} else {
					errN.Add(1)
				}
				lastMu.Lock()
				if done.After(last) {
					last = done
				}
				lastMu.Unlock()
			}
		}()
	}
	cpu0 := processCPU()
	total0, steal0, stealOK := machineTicks()
	start := time.Now()
	// A tracker too slow to keep up: stop sending 5 s after the last due
	// time (what was not sent is not counted as sent).
	deadline := start.Add(o.Duration + 5*time.Second)
	stop := time.NewTimer(time.Until(deadline))
	defer stop.Stop()
	sent := 0
	for sent < n && ctx.Err() == nil {
		now := time.Now()
		if now.After(deadline) {
			break
		}
		due := min(n, int(now.Sub(start)/interval)+1)
	send:
		for ; sent < due; sent++ {
			select {
			case jobs <- job{i: sent, due: start.Add(time.Duration(sent) * interval)}:
			case <-stop.C:
				break send
			}
		}
		if time.Now().After(deadline) {
			break
		}
		if sent < n {
			time.Sleep(time.Until(start.Add(time.Duration(sent) * interval)))
		}
	}
	close(jobs)
	wg.Wait()
	cpu := processCPU() - cpu0
	total1, steal1, stealOK1 := machineTicks()
	lat = lat[:sent]
	slices.Sort(lat)
	p := Phase{Route: route, Rate: r, Sent: sent, OK: int(okN.Load()), Errors: int(errN.Load()), Elapsed: last.Sub(start)}
	if p.OK > 0 {
		p.CPU = cpu / time.Duration(p.OK)
	}
	p.Steal = -1
	if stealOK && stealOK1 && total1 > total0 {
		p.Steal = float64(steal1-steal0) / float64(total1-total0)
	}
	if len(lat) > 0 {
		at := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
		p.P50, p.P90, p.P99, p.Max = at(0.50), at(0.90), at(0.99), lat[len(lat)-1]
	}
	return p
}

// logins runs n logins, conc at once, each of which must succeed.
func logins(ctx context.Context, client *http.Client, base string, n, conc int) error {
	var next atomic.Int64
	errs := make(chan error, conc)
	for range conc {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					errs <- nil
					return
				}
				name := fmt.Sprintf("bench%d", i%8)
				code, err := post(ctx, client, base+protocol.PathLogin, "", protocol.LoginRequest{Username: name, Password: benchPassword}, nil)
				if err != nil || code != http.StatusOK {
					errs <- fmt.Errorf("trackerbench: login %d = %d, %v", i, code, err)
					return
				}
			}
		}()
	}
	var first error
	for range conc {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
