package playbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/sim/cluster"
	"github.com/chorus-music/chorus/sim/shaper"
	"github.com/chorus-music/chorus/tracker"
)

// Options configure a run. Zero values take the defaults in brackets.
type Options struct {
	RTT       time.Duration // shaped round trip between any two parties [40 ms]
	Listeners int           // listeners playing [6]
	Tracks    int           // catalog size [4]
	Plays     int           // plays per listener [4]
	// Show is how many of its coming plays a listener has on screen: it
	// fetches their manifests and keys and looks their holders up before
	// it plays them, from the start for the first Show plays and, as each
	// play starts, for the one Show places later [4].
	Show    int
	Seconds float64 // track length [8]
	Speed   float64 // listeners' playback clock speed [1: real time]
	Seed    uint64  // picks the play order and when each listener's session begins [1]
	// Together starts every listener's session (its screen of coming
	// plays, then its first play) at the same instant, a stress test
	// rather than a swarm: the plays of a round then keep in step, as
	// every track has the same length, and each round's listeners all
	// want their tracks within the same second. False (the default)
	// starts each listener's session at a random time (from Seed) within
	// the first track's length, as listeners who do not know of each
	// other would.
	Together bool
	// Precise releases the shaped packets by polling the clock (see
	// shaper.Options.Precise) instead of on Go timers.
	Precise bool
	Dir     string // data; "" means a temporary directory
	// Profile, if set, receives a CPU profile of the measured plays (not
	// of the swarm's start).
	Profile io.Writer
	// HeapProfile, if set, receives a heap profile taken when the measured
	// plays have ended, with the swarm still up (after a collection: what
	// the swarm holds on to).
	HeapProfile io.Writer
	Logger      *slog.Logger
}

// Validate reports what is wrong with o, as Run would, without starting
// anything.
func (o Options) Validate() error { return o.defaults() }

func (o *Options) defaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if o.RTT == 0 {
		o.RTT = 40 * time.Millisecond
	}
	def(&o.Listeners, 6)
	def(&o.Tracks, 4)
	def(&o.Plays, 4)
	def(&o.Show, 4)
	if o.Seconds == 0 {
		o.Seconds = 8
	}
	if o.Speed == 0 {
		o.Speed = 1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	var bad []string
	for _, f := range []struct {
		name string
		neg  bool
	}{
		{"RTT", o.RTT < 0}, {"Listeners", o.Listeners < 0}, {"Tracks", o.Tracks < 0}, {"Plays", o.Plays < 0},
		{"Show", o.Show < 0}, {"Seconds", o.Seconds < 0}, {"Speed", o.Speed < 0},
	} {
		if f.neg {
			bad = append(bad, f.name+" is negative")
		}
	}
	if o.Seconds > samples.MaxSeconds {
		bad = append(bad, fmt.Sprintf("Seconds %v is above %v", o.Seconds, samples.MaxSeconds))
	}
	if len(bad) > 0 {
		return fmt.Errorf("playbench: bad options: %s", strings.Join(bad, ", "))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Play is one measured play.
type Play struct {
	Listener string
	Track    string
	// At is when the play started, from the start of the measured plays.
	At    time.Duration
	Stats client.PlayStats
	// GaveUp is why the play ended without playing out: the client's
	// *client.StuckError, when no chunk came for its GiveUpAfter. Such a
	// play counts as stalled and, if it never started, as an infinite
	// start latency; the listener goes on to its next play.
	GaveUp string
}

// Report holds every play.
type Report struct {
	Options Options
	Plays   []Play
	// Wall is the wall time of the measured plays; CPU the process's CPU
	// time (user and system) spent meanwhile.
	Wall, CPU time.Duration
	// Counters sums the listeners' node metrics that tell load apart
	// from its cause (requests served by status), and gives libp2p's
	// process-wide ones (connections opened and closed in the whole
	// process) once. They do not depend on how busy the machine is.
	Counters map[string]float64
}

// counted are the metrics Report.Counters sums over listeners, with the
// label whose values are kept apart ("" for none).
var counted = []struct{ name, label string }{
	{"chorus_node_requests_served_total", "status"},
	{"chorus_node_fetches_total", "result"},
	{"chorus_node_admission_total", "result"},
	{"libp2p_swarm_connections_opened_total", ""},
	{"libp2p_swarm_connections_closed_total", ""},
}

// gather adds the counted metrics of reg to into. libp2p's own metrics
// (libp2p_*) are process-wide collectors that every node's registry
// shows alike: they are taken from the first registry only (shared
// false for the others), not summed.
func gather(reg *prometheus.Registry, into map[string]float64, shared bool) {
	if reg == nil {
		return
	}
	mfs, err := reg.Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		for _, c := range counted {
			if mf.GetName() != c.name || (!shared && strings.HasPrefix(c.name, "libp2p_")) {
				continue
			}
			for _, m := range mf.GetMetric() {
				key := c.name
				for _, lp := range m.GetLabel() {
					if lp.GetName() == c.label {
						key += "{" + lp.GetValue() + "}"
					}
				}
				into[key] += m.GetCounter().GetValue()
			}
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Never is the start latency of a play that gave up before it started.
const Never = time.Duration(math.MaxInt64)

// startMS formats a start latency for the report.
func startMS(d time.Duration) string {
	if d == Never {
		return "never (gave up)"
	}
	return fmt.Sprintf("%.1f ms", ms(d))
}

// StartQuantile returns the q-quantile (nearest rank) of start latency;
// Never if it falls on a play that gave up before it started.
func (r *Report) StartQuantile(q float64) time.Duration {
	var s []float64
	for _, p := range r.Plays {
		if p.GaveUp != "" && p.Stats.StartLatencyMS == 0 {
			s = append(s, math.Inf(1))
			continue
		}
		s = append(s, p.Stats.StartLatencyMS)
	}
	if len(s) == 0 {
		return 0
	}
	sort.Float64s(s)
	i := max(0, min(len(s)-1, int(q*float64(len(s))+0.5)-1))
	if math.IsInf(s[i], 1) {
		return Never
	}
	return time.Duration(s[i] * float64(time.Millisecond))
}

// GaveUp is the number of plays that gave up.
func (r *Report) GaveUp() int {
	n := 0
	for _, p := range r.Plays {
		if p.GaveUp != "" {
			n++
		}
	}
	return n
}

// StallRate is the fraction of plays with at least one stall.
func (r *Report) StallRate() float64 {
	n := 0
	for _, p := range r.Plays {
		if p.Stats.Stalls > 0 || p.GaveUp != "" {
			n++
		}
	}
	return float64(n) / float64(max(len(r.Plays), 1))
}

// Warm returns the report of the plays after each listener's first one:
// the swarm once warm, without each listener's first play, which starts
// on a swarm of one seeder (all at once with Together).
func (r *Report) Warm() *Report {
	w := &Report{Options: r.Options}
	first := map[string]time.Duration{}
	for _, p := range r.Plays {
		if t, ok := first[p.Listener]; !ok || p.At < t {
			first[p.Listener] = p.At
		}
	}
	for _, p := range r.Plays {
		if p.At > first[p.Listener] {
			w.Plays = append(w.Plays, p)
		}
	}
	return w
}

// Bytes adds up the plays' bytes by source kind.
func (r *Report) Bytes() map[client.SourceKind]int64 {
	out := map[client.SourceKind]int64{}
	for _, p := range r.Plays {
		for k, v := range p.Stats.BytesBySource {
			out[k] += v
		}
	}
	return out
}

// Print writes the summary.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	b := r.Bytes()
	total := float64(max(b[client.KindOrigin]+b[client.KindPeer]+b[client.KindCache], 1))
	fmt.Fprintf(w, "%d plays by %d listeners of %d tracks (%.0f s each, 353 kbit/s; each listener shows its next %d plays) in a warm swarm, shaped RTT %v, playback speed %gx\n",
		len(r.Plays), o.Listeners, o.Tracks, o.Seconds, o.Show, o.RTT, o.Speed)
	fmt.Fprintf(w, "start latency (manifest and key cached): p50 %s, p90 %s, p99 %s, max %s\n",
		startMS(r.StartQuantile(0.5)), startMS(r.StartQuantile(0.9)), startMS(r.StartQuantile(0.99)), startMS(r.StartQuantile(1)))
	fmt.Fprintf(w, "plays with a stall: %.2f%%\n", 100*r.StallRate())
	if n := r.GaveUp(); n > 0 {
		fmt.Fprintf(w, "plays that gave up (counted as stalled): %d\n", n)
	}
	fmt.Fprintf(w, "bytes: %.1f%% from the origin, %.1f%% from peers, %.1f%% from caches\n",
		100*float64(b[client.KindOrigin])/total, 100*float64(b[client.KindPeer])/total, 100*float64(b[client.KindCache])/total)
	if wm := r.Warm(); len(wm.Plays) > 0 && len(wm.Plays) < len(r.Plays) {
		wb := wm.Bytes()
		wt := float64(max(wb[client.KindOrigin]+wb[client.KindPeer]+wb[client.KindCache], 1))
		fmt.Fprintf(w, "once warm (%d plays after each listener's first): start p50 %s, p99 %s; plays with a stall %.2f%%; %.1f%% of bytes from the origin\n",
			len(wm.Plays), startMS(wm.StartQuantile(0.5)), startMS(wm.StartQuantile(0.99)), 100*wm.StallRate(), 100*float64(wb[client.KindOrigin])/wt)
	}
	if len(r.Plays) > 0 && r.Wall > 0 {
		fmt.Fprintf(w, "measured plays: wall %.1f s, CPU %.1f s (%.0f%% of one core), %.0f ms of CPU per play\n",
			r.Wall.Seconds(), r.CPU.Seconds(), 100*r.CPU.Seconds()/r.Wall.Seconds(), ms(r.CPU)/float64(len(r.Plays)))
	}
	if len(r.Counters) > 0 {
		keys := make([]string, 0, len(r.Counters))
		for k := range r.Counters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "swarm counters (all listeners, whole run):")
		for _, k := range keys {
			fmt.Fprintf(w, " %s=%.0f", strings.TrimPrefix(k, "chorus_node_"), r.Counters[k])
		}
		fmt.Fprintln(w)
	}
	origin := map[string]int{}
	errs := 0
	for _, p := range r.Plays {
		for k, v := range p.Stats.OriginRequests {
			origin[k] += v
		}
		errs += p.Stats.Errors
	}
	fmt.Fprintf(w, "origin requests by reason: %v; failed requests: %d\n", origin, errs)
}

// PrintPlays writes one line per play, slowest start first: when it
// started, who played what, its start latency, stalls and where its bytes
// and origin requests came from.
func (r *Report) PrintPlays(w io.Writer) {
	ps := slices.Clone(r.Plays)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Stats.StartLatencyMS > ps[j].Stats.StartLatencyMS })
	for _, p := range ps {
		st := p.Stats
		fmt.Fprintf(w, "at %7.3f s %-11s %.12s start %7.1f ms stalls %d (%.0f ms) bytes %v origin %v errors %d cancelled %d\n",
			p.At.Seconds(), p.Listener, p.Track[len(p.Track)-12:], st.StartLatencyMS, st.Stalls, st.StallMS, st.BytesBySource, st.OriginRequests, st.Errors, st.Cancelled)
		if p.GaveUp != "" {
			fmt.Fprintf(w, "    gave up: %s\n", p.GaveUp)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// startAtOnce is how many listeners Run starts at once.
const startAtOnce = 8

// Run measures opts.Listeners × opts.Plays plays after a seeder has played
// every track (a warm swarm).
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "chorus-playbench-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		opts.Dir = d
	}
	c, err := cluster.Start(ctx, cluster.Options{
		Dir:    opts.Dir,
		Logger: opts.Logger,
		Argon2: tracker.Argon2Params{Time: 1, MemoryK: 1024, Threads: 1},
		// A hundred listeners log in within seconds from one address.
		LoginPolicy: tracker.LoginPolicy{AttemptRate: rate.Inf},
		// The origin's answers carry the whole round trip; the client's
		// requests go out unshaped.
		WrapOriginUDP: func(pc net.PacketConn) (net.PacketConn, error) {
			return shaper.Wrap(pc, shaper.Options{Delay: opts.RTT, Precise: opts.Precise})
		},
		// As operators run it (`chorus tracker --dht-listen`): an
		// always-on DHT server, its packets shaped as a listener's.
		DHTServer:    true,
		DHTListenUDP: shaper.ListenUDP(shaper.Options{Delay: opts.RTT / 2, Precise: opts.Precise}),
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	const password = "bench-password-1"
	var ids []string
	for i := range opts.Tracks {
		p := filepath.Join(opts.Dir, fmt.Sprintf("Bench - Track %d.wav", i+1))
		// 22.05 kHz mono 16-bit PCM: 353 kbit/s, about a premium stream's
		// rate, so chunk deadlines are as tight as a listener's.
		if err := samples.WriteFile(p, samples.Spec{Seconds: opts.Seconds, SampleRate: 22050, Channels: 1, Seed: int64(100 + i)}); err != nil {
			return nil, err
		}
		ts, err := c.Ingest(ctx, p)
		if err != nil {
			return nil, err
		}
		ids = append(ids, ts[0].ID)
	}
	// Each listener has an account of its own, as in the world.
	newListener := func(name string, speed float64) (*cluster.Listener, error) {
		if err := c.AddUser(ctx, name, password); err != nil {
			return nil, err
		}
		l, err := c.NewListener(ctx, cluster.ListenerOptions{
			Name: name, User: name, Password: password, Swarm: true,
			Sched:     sched.Config{Speed: speed},
			ListenUDP: shaper.ListenUDP(shaper.Options{Delay: opts.RTT / 2, Precise: opts.Precise}),
		})
		if err != nil {
			return nil, err
		}
		select {
		case <-l.Node.Bootstrapped():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return l, nil
	}
	// Listeners join a few at a time, as they would come online: one by
	// one, a hundred take minutes of bootstrap round trips.
	ls := make([]*cluster.Listener, opts.Listeners)
	{
		sem := make(chan struct{}, startAtOnce)
		errs := make([]error, len(ls))
		var wg sync.WaitGroup
		for i := range ls {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ls[i], errs[i] = newListener(fmt.Sprintf("listener%d", i+1), opts.Speed)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	// The seeder's plays warm the swarm and are not measured: they may run
	// fast.
	seeder, err := newListener("seeder", 8)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, err := playOnce(ctx, seeder, id); err != nil {
			return nil, fmt.Errorf("playbench: seeding: %w", err)
		}
	}
	rep := &Report{Options: opts}
	if opts.Profile != nil {
		if err := pprof.StartCPUProfile(opts.Profile); err != nil {
			return nil, fmt.Errorf("playbench: profile: %w", err)
		}
	}
	t0, cpu0 := time.Now(), cpuTime()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, len(ls))
	for k, l := range ls {
		wg.Add(1)
		order, offset := plan(opts, ids, k)
		go func() {
			defer wg.Done()
			// The listener's session begins at its own time.
			select {
			case <-time.After(offset):
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
			// The coming plays are on screen: their manifests and keys
			// are fetched and their holders looked up before they play.
			show := func(i int) error {
				if i >= len(order) {
					return nil
				}
				if err := l.Client.Prepare(ctx, order[i]); err != nil {
					return err
				}
				return l.Client.Lookup(order[i])
			}
			for i := range opts.Show {
				if err := show(i); err != nil {
					errc <- err
					return
				}
			}
			for i, id := range order {
				if err := show(i + opts.Show); err != nil {
					errc <- err
					return
				}
				at := time.Since(t0)
				st, err := playOnce(ctx, l, id)
				var gaveUp string
				if stuck := (*client.StuckError)(nil); errors.As(err, &stuck) {
					gaveUp, err = stuck.Error(), nil
				}
				if err != nil {
					errc <- fmt.Errorf("playbench: %s: %w", l.Name, err)
					return
				}
				mu.Lock()
				rep.Plays = append(rep.Plays, Play{Listener: l.Name, Track: id, At: at, Stats: st, GaveUp: gaveUp})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.Wall, rep.CPU = time.Since(t0), cpuTime()-cpu0
	if opts.Profile != nil {
		pprof.StopCPUProfile()
	}
	if opts.HeapProfile != nil {
		runtime.GC()
		if err := pprof.WriteHeapProfile(opts.HeapProfile); err != nil {
			return nil, fmt.Errorf("playbench: heap profile: %w", err)
		}
	}
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	rep.Counters = map[string]float64{}
	for i, l := range append(ls, seeder) {
		gather(l.Metrics, rep.Counters, i == 0)
	}
	return rep, nil
}

// plan returns what listener k plays, in order, and when its session
// (its screen of coming plays, then its first play) begins, from the start
// of the measured plays: both from opts.Seed, from RNG streams of their
// own so that the play orders do not depend on Together.
func plan(opts Options, ids []string, k int) (order []string, first time.Duration) {
	rng := rand.New(rand.NewPCG(opts.Seed, uint64(k)))
	order = make([]string, opts.Plays)
	for i := range order {
		order[i] = ids[rng.IntN(len(ids))]
	}
	if !opts.Together {
		starts := rand.New(rand.NewPCG(opts.Seed^0x5eed57a27, uint64(k)))
		first = time.Duration(starts.Float64() * opts.Seconds / opts.Speed * float64(time.Second))
	}
	return order, first
}

// playOnce plays a track to the end of its playhead and returns its stats,
// with them the *client.StuckError of a play that gave up.
func playOnce(ctx context.Context, l *cluster.Listener, id string) (client.PlayStats, error) {
	pb, err := l.Client.Play(ctx, id)
	if err != nil {
		return client.PlayStats{}, err
	}
	defer pb.Close()
	if _, err := io.Copy(io.Discard, pb); err != nil {
		return pb.Stats(), err
	}
	select {
	case <-pb.Ended():
	case <-ctx.Done():
		return client.PlayStats{}, ctx.Err()
	}
	return pb.Stats(), nil
}
