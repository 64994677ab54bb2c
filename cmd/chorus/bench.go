package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/chorus-music/chorus/sim/playbench"
	"github.com/chorus-music/chorus/sim/startbench"
)

// benchUsage lists the benchmarks, for `chorus bench` and `chorus bench -h`.
const benchUsage = `usage: chorus bench BENCHMARK [flags]   ('chorus bench BENCHMARK -h' lists its flags)

benchmarks:
  start    how fast audio arrives (first 1 s, 16 s, the whole track) from peers, cold and warm, and in a fresh process, vs an HTTP/3 origin, over shaped links
  plays    whole plays in a warm swarm of real nodes over shaped links: start p50/p90/p99, stalls, origin share
  tracker  open-loop load on the tracker's track key, manifest, search and ticket routes (SQLite, or --store postgres://...), and logins/s
`

func runBench(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, benchUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.stderr, benchUsage)
		return nil
	case "start":
		return benchStart(ctx, env, args[1:])
	case "plays":
		return benchPlays(ctx, env, args[1:])
	case "tracker":
		return benchTracker(ctx, env, args[1:])
	}
	return fmt.Errorf("unknown benchmark %q: want start, plays or tracker (chorus bench -h)", args[0])
}

// benchStart measures how fast audio arrives (first 1 s, first 16 s, the
// whole track) from one and two peers, cold and warm, against an HTTP/3
// origin and the link's floors.
func benchStart(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "bench start", "")
	var o startbench.Options
	fs.DurationVar(&o.RTT, "rtt", 40*time.Millisecond, "round trip added by the link shaper (half on each side)")
	mbit := fs.Float64("mbit", 50, "every party's uplink rate in Mbit/s")
	fs.IntVar(&o.Runs, "runs", 20, "plays per path")
	fs.Float64Var(&o.Seconds, "seconds", 240, "track length in seconds (160 kbit/s)")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	if !(*mbit > 0 && *mbit <= 100_000) {
		return fmt.Errorf("--mbit %v: want a rate above 0 and at most 100000", *mbit)
	}
	if o.Runs <= 0 {
		return fmt.Errorf("--runs %d: want at least 1", o.Runs)
	}
	o.BytesPerSecond = int64(*mbit * 1e6 / 8)
	o.Logger = env.log
	fmt.Fprintf(env.stderr, "measuring %d runs per path at %v RTT, %v Mbit/s...\n", o.Runs, o.RTT, *mbit)
	rep, err := startbench.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Print(env.stdout)
	return nil
}

// benchPlays measures whole plays in a warm swarm over shaped links.
func benchPlays(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "bench plays", "")
	var o playbench.Options
	fs.DurationVar(&o.RTT, "rtt", 40*time.Millisecond, "round trip between any two parties")
	fs.IntVar(&o.Listeners, "listeners", 6, "listeners playing at once")
	fs.IntVar(&o.Tracks, "tracks", 4, "tracks in the catalog")
	fs.IntVar(&o.Show, "show", 4, "coming plays each listener has on screen (manifest, key and holders fetched before they play)")
	fs.IntVar(&o.Plays, "plays", 4, "plays per listener")
	fs.Float64Var(&o.Seconds, "seconds", 8, "track length in seconds")
	fs.Float64Var(&o.Speed, "speed", 1, "listeners' playback clock speed (1: real time)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the play order and of when each listener's session begins")
	fs.BoolVar(&o.Together, "together", false, "start every listener's session (its screen of coming plays, then its first play) at the same instant, a stress test in which rounds stay in step, instead of at random times within the first track's length")
	fs.BoolVar(&o.Precise, "precise", true, "release shaped packets by polling the clock, not on Go timers (exact to microseconds; costs CPU at every socket while packets are due)")
	perPlay := fs.Bool("per-play", false, "after the summary, one line per play, slowest start first")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured plays to this file")
	heapProfile := fs.String("memprofile", "", "write a heap profile, taken when the measured plays have ended, to this file")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	for _, p := range []struct {
		flag, path string
		to         *io.Writer
	}{{"--cpuprofile", *cpuProfile, &o.Profile}, {"--memprofile", *heapProfile, &o.HeapProfile}} {
		f, err := createProfile(p.flag, p.path)
		if err != nil {
			return err
		}
		if f != nil {
			defer f.Close()
			*p.to = f
		}
	}
	o.Logger = env.log
	if err := o.Validate(); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "starting a swarm of %d listeners and a seeder...\n", o.Listeners)
	rep, err := playbench.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Print(env.stdout)
	if *perPlay {
		rep.PrintPlays(env.stdout)
	}
	return nil
}

// createProfile creates the file a profile flag names, before the run, so
// that a bad path fails at once; nil for no path. The caller closes it.
func createProfile(flag, path string) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return f, nil
}
