package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/internal/cluster"
	"github.com/chorus-music/chorus/origin"
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
	verbose := fs.Bool("v", false, "log every component's info messages (default: warnings only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := env.log
	if !*verbose && os.Getenv("CHORUS_DEBUG") == "" {
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
		if err := writeSample(p, s.Spec); err != nil {
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
		l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: name, User: "demo", Password: password, Swarm: true})
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
		plays = append(plays, playAll(ctx, ls[0], t.ID, t.Title))
		if err := provide(ctx, ls[0], t.ID); err != nil {
			return err
		}
	}
	for _, l := range ls[1:] {
		for _, t := range picks {
			plays = append(plays, playAll(ctx, l, t.ID, t.Title))
		}
	}
	printPlays(env.stdout, plays)
	for _, p := range plays {
		if p.err != nil {
			return fmt.Errorf("demo play of %s failed: %w", p.title, p.err)
		}
	}
	fmt.Fprintf(env.stdout, "\n%d plays complete.\n", len(plays))
	if *exit {
		return nil
	}
	fmt.Fprintln(env.stdout, "Serving until Ctrl-C.")
	<-ctx.Done()
	fmt.Fprintln(env.stdout, "stopping")
	return nil
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

// playAll plays a whole track as fast as the sources allow and discards the
// audio.
func playAll(ctx context.Context, l *cluster.Listener, trackID, title string) demoPlay {
	row := demoPlay{listener: l.Name, title: title}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pb, err := l.Client.Play(ctx, trackID)
	if err != nil {
		row.err = err
		return row
	}
	defer pb.Close()
	_, row.err = io.Copy(io.Discard, pb)
	row.stats = pb.Stats()
	return row
}

func printPlays(w io.Writer, plays []demoPlay) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tlistener\ttrack\tstart\tfrom origin\tfrom peers\tfrom cache\tstalls\tresult")
	for i, p := range plays {
		result := "ok"
		if p.err != nil {
			result = p.err.Error()
		}
		b := p.stats.BytesBySource
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f ms\t%s\t%s\t%s\t%d\t%s\n", i+1, p.listener, p.title, p.stats.StartLatencyMS,
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

func writeSample(path string, spec samples.Spec) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := samples.WriteWAV(f, spec); err != nil {
		f.Close()
		return fmt.Errorf("sample %s: %w", path, err)
	}
	return f.Close()
}

func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
