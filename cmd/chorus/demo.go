package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/sim/cluster"
)

// demoPlay is one row of the demo's table.
type demoPlay struct {
	listener string
	title    string
	stats    client.PlayStats
	err      error
}

func runDemo(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "demo", "")
	dataDir := fs.String("data", "", "data directory (default: a fresh temporary directory, removed on exit)")
	exit := fs.Bool("exit", false, "exit after the plays instead of serving until Ctrl-C")
	speed := fs.Float64("speed", 4, "playback clock speed: 1 plays in real time, 4 four times faster")
	verbose := fs.Bool("v", false, "log every component's info messages (default: warnings only)")
	daemonAPI := fs.String("api", "127.0.0.1:0", "the demo daemon's API address (loopback)")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	if *speed <= 0 {
		return fmt.Errorf("--speed %v: want a positive factor", *speed)
	}
	log := env.log
	if !*verbose && env.level.Level() > slog.LevelDebug {
		log = slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	dir := *dataDir
	if dir == "" {
		d, err := cluster.TempDir()
		if err != nil {
			return err
		}
		dir = d
		defer os.RemoveAll(dir)
	}

	// The demo's music library: generated WAV files, the source audio an
	// operator would ingest.
	music := filepath.Join(dir, "music")
	if err := os.MkdirAll(music, 0o700); err != nil {
		return err
	}
	var paths []string
	for _, s := range samples.Demo() {
		p := filepath.Join(music, s.FileName)
		if err := samples.WriteFile(p, s.Spec); err != nil {
			return err
		}
		paths = append(paths, p)
	}

	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(env.stdout, "tracker  %s  (SQLite in %s)\n", c.TrackerURL, dir)
	fmt.Fprintf(env.stdout, "origin   %s  (HTTP/3 and HTTPS, dev CA %s)\n", c.OriginURL, filepath.Join(dir, "tls", origin.DevCAFile))

	password, err := randomPassword()
	if err != nil {
		return err
	}
	if err := c.AddUser(ctx, "demo", password); err != nil {
		return err
	}
	tracks, err := c.Ingest(ctx, paths...)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "ingested %d tracks\n\n", len(tracks))

	// Three listeners, each a swarm node with its own cache. Ada plays
	// first, from the origin; Bo and Cy then play the same tracks and find
	// Ada (and each other) through the DHT.
	var ls []*cluster.Listener
	for _, name := range []string{"ada", "bo", "cy"} {
		l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: name, User: "demo", Password: password, Swarm: true, Sched: sched.Config{Speed: *speed}})
		if err != nil {
			return err
		}
		select {
		case <-l.Node.Bootstrapped():
		case <-ctx.Done():
			return ctx.Err()
		}
		ls = append(ls, l)
	}
	fmt.Fprintf(env.stdout, "listeners %d swarm nodes on loopback QUIC\n\n", len(ls))
	var plays []demoPlay
	picks := tracks[:min(3, len(tracks))]
	for _, t := range picks {
		plays = append(plays, playAll(ctx, ls[0], t.ID, t.Title, ""))
		if err := provide(ctx, ls[0], t.ID); err != nil {
			return err
		}
	}
	// Bo and Cy listen at the same time.
	later := make([][]demoPlay, len(ls)-1)
	var wg sync.WaitGroup
	for k, l := range ls[1:] {
		// The tracks are on screen: look up their holders now, long
		// before the first Play needs them.
		for _, t := range picks {
			if err := l.Client.Lookup(t.ID); err != nil {
				return err
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, t := range picks {
				next := ""
				if i+1 < len(picks) {
					next = picks[i+1].ID
				}
				later[k] = append(later[k], playAll(ctx, l, t.ID, t.Title, next))
			}
		}()
	}
	wg.Wait()
	for _, rows := range later {
		plays = append(plays, rows...)
	}
	printPlays(env.stdout, plays)
	for _, p := range plays {
		if p.err != nil {
			return fmt.Errorf("demo play of %s failed: %w", p.title, p.err)
		}
	}
	var total [3]int64
	for _, p := range plays {
		total[0] += p.stats.BytesBySource[client.KindOrigin]
		total[1] += p.stats.BytesBySource[client.KindPeer]
		total[2] += p.stats.BytesBySource[client.KindCache]
	}
	sum := float64(max(total[0]+total[1]+total[2], 1))
	fmt.Fprintf(env.stdout, "\nbytes: %.1f%% from the origin, %.1f%% from peers, %.1f%% from caches\n",
		100*float64(total[0])/sum, 100*float64(total[1])/sum, 100*float64(total[2])/sum)
	fmt.Fprintf(env.stdout, "%d plays complete.\n", len(plays))
	if *exit {
		return nil
	}
	// A listener's daemon on the same network, as `chorus login` and
	// `chorus daemon` would set it up, with its own config and cache.
	dpaths := daemon.Paths{Config: filepath.Join(dir, "you", "config"), Cache: filepath.Join(dir, "you", "cache")}
	d, err := startDemoDaemon(ctx, dpaths, c, password, *daemonAPI, filepath.Join(dir, "tls", origin.DevCAFile), log)
	if err != nil {
		return err
	}
	runErr := make(chan error, 1)
	dctx, stopDaemon := context.WithCancel(ctx)
	go func() { runErr <- d.Run(dctx) }()
	defer func() {
		stopDaemon()
		<-runErr
	}()
	select {
	case <-d.Connected():
	case err := <-runErr:
		return fmt.Errorf("demo daemon: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	self := invokedAs(os.Args[0])
	ctlLine := self + " ctl --config-dir " + dpaths.Config
	fmt.Fprintf(env.stdout, "\ndaemon   %s  (config %s)\n", d.URL(), dpaths.Config)
	fmt.Fprintf(env.stdout, "player   %s  (one-time login link)\n", d.LoginLink())
	fmt.Fprintf(env.stdout, "\nServing until Ctrl-C. Try it from another terminal:\n")
	fmt.Fprintf(env.stdout, "  %s search Light\n", ctlLine)
	fmt.Fprintf(env.stdout, "  %s play %s && %s status\n", ctlLine, tracks[0].ID, ctlLine)
	fmt.Fprintf(env.stdout, "  mpv \"$(%s url)\"\n", ctlLine)
	fmt.Fprintf(env.stdout, "or play a track into a file (the demo account's password is on stdin):\n")
	fmt.Fprintf(env.stdout, "  echo %s | %s play --tracker %s --user demo --data %s --origin-ca %s --out /tmp/chorus-demo.wav %s\n",
		password, self, c.TrackerURL, filepath.Join(dir, "listeners", "you"), filepath.Join(dir, "tls", origin.DevCAFile), tracks[len(tracks)-1].ID)
	<-ctx.Done()
	fmt.Fprintln(env.stdout, "stopping")
	return nil
}

// invokedAs is how to run this binary again from another terminal, for
// the command lines the demo prints: "go run ./cmd/chorus" when it was
// started by go run (a binary in the build cache), the bare name when it
// was found on PATH, else its absolute path (a ./chorus works from no
// other directory).
func invokedAs(arg0 string) string {
	if strings.Contains(filepath.ToSlash(arg0), "/go-build") {
		return "go run ./cmd/chorus"
	}
	if !strings.ContainsRune(arg0, filepath.Separator) && !strings.ContainsRune(arg0, '/') {
		return arg0
	}
	if abs, err := filepath.Abs(arg0); err == nil {
		return abs
	}
	return arg0
}

// provide makes sure the listener's node has announced the track before the
// next listener looks for it (the client also announces on its own, in the
// background).
func provide(ctx context.Context, l *cluster.Listener, trackID string) error {
	id, err := cid.Decode(trackID)
	if err != nil {
		return err
	}
	return l.Node.Provide(ctx, id)
}

// playAll plays a whole track, reading as fast as the sources allow while
// the playhead moves at the demo's speed, and discards the audio; with next
// set, it queues that track so its start is prefetched. It returns when the
// playhead reaches the end.
func playAll(ctx context.Context, l *cluster.Listener, trackID, title, next string) demoPlay {
	row := demoPlay{listener: l.Name, title: title}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pb, err := l.Client.Play(ctx, trackID)
	if err != nil {
		row.err = err
		return row
	}
	defer pb.Close()
	if next != "" {
		if err := l.Client.Queue(ctx, next); err != nil {
			row.err = err
			return row
		}
	}
	// Read at the pace of the playback clock, as a player does: a reader
	// far ahead of the playhead makes the play drop and fetch again (from
	// the cache) what the playhead has not reached yet.
	if _, row.err = io.Copy(io.Discard, &pacedReader{ctx: ctx, pb: pb, clock: clock.Real{}}); row.err == nil {
		select {
		case <-pb.Ended():
		case <-ctx.Done():
			row.err = ctx.Err()
		}
	}
	row.stats = pb.Stats()
	return row
}

func printPlays(w io.Writer, plays []demoPlay) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tlistener\ttrack\tstart\tmanifest+key\tfrom origin\tfrom peers\tfrom cache\tstalls\tresult")
	for i, p := range plays {
		result := "ok"
		if p.err != nil {
			result = p.err.Error()
		}
		b := p.stats.BytesBySource
		prepared := "fetched"
		if p.stats.ManifestCached && p.stats.KeyCached {
			prepared = "cached"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.2f ms\t%s\t%s\t%s\t%s\t%d\t%s\n", i+1, p.listener, p.title, p.stats.StartLatencyMS, prepared,
			humanBytes(b[client.KindOrigin]), humanBytes(b[client.KindPeer]), humanBytes(b[client.KindCache]), p.stats.Stalls, result)
	}
	tw.Flush()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// startDemoDaemon logs the demo account in for a daemon with its own
// directories and returns the daemon, ready to Run.
func startDemoDaemon(ctx context.Context, paths daemon.Paths, c *cluster.Cluster, password, api, originCA string, log *slog.Logger) (*daemon.Daemon, error) {
	if err := daemon.Login(ctx, paths, c.TrackerURL, "demo", password); err != nil {
		return nil, fmt.Errorf("demo daemon login: %w", err)
	}
	cfg, _, err := daemon.LoadConfig(paths)
	if err != nil {
		return nil, err
	}
	cfg.OriginCA = originCA
	host, _, err := net.SplitHostPort(api)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--api %q: the demo daemon listens on loopback only", api)
	}
	ln, err := net.Listen("tcp", api)
	if err != nil {
		return nil, fmt.Errorf("demo daemon API: %w", err)
	}
	cfg.API = ln.Addr().String()
	d, err := daemon.New(daemon.Options{Paths: paths, Config: cfg, API: ln, Logger: log.With("component", "daemon")})
	if err != nil {
		ln.Close()
		return nil, err
	}
	return d, nil
}
