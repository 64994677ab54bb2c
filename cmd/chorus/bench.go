package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chorus-music/chorus/sim/playbench"
	"github.com/chorus-music/chorus/sim/startbench"
)

func runBench(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: chorus bench start|plays|tracker [flags]")
	}
	switch args[0] {
	case "start":
		return benchStart(ctx, env, args[1:])
	case "plays":
		return benchPlays(ctx, env, args[1:])
	case "tracker":
		return benchTracker(ctx, env, args[1:])
	}
	return fmt.Errorf("unknown benchmark %q: want start, plays or tracker", args[0])
}

// benchStart measures the first chunk from a peer, cold and warm, against
// an HTTP/3 origin.
func benchStart(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "bench start", "")
	rtt := fs.Duration("rtt", 40*time.Millisecond, "round trip added by the link shaper (half on each side)")
	runs := fs.Int("runs", 30, "fetches per path")
	size := fs.Int("size", 0, "bytes fetched (default: one chunk, 16 KiB)")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	fmt.Fprintf(env.stderr, "measuring %d runs per path at %v RTT...\n", *runs, *rtt)
	rep, err := startbench.Run(ctx, startbench.Options{RTT: *rtt, Runs: *runs, ChunkSize: *size, Logger: env.log})
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
	fs.IntVar(&o.Plays, "plays", 4, "plays per listener")
	fs.Float64Var(&o.Seconds, "seconds", 8, "track length in seconds")
	fs.Float64Var(&o.Speed, "speed", 1, "listeners' playback clock speed (1: real time)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the play order")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	o.Logger = env.log
	fmt.Fprintf(env.stderr, "starting a swarm of %d listeners and a seeder...\n", o.Listeners)
	rep, err := playbench.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Print(env.stdout)
	return nil
}
