package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

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
	if err := fs.Parse(args); err != nil {
		return err
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

	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, Logger: env.log})
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

	l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: "ada", User: "demo", Password: password})
	if err != nil {
		return err
	}
	var plays []demoPlay
	for _, t := range tracks[:min(3, len(tracks))] {
		plays = append(plays, playAll(ctx, l, t.ID, t.Title))
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
