package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chorus-music/chorus/sim/startbench"
)

func runBench(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "start" {
		return errors.New("usage: chorus bench start [--rtt 40ms] [--runs 30]")
	}
	fs := newFlags(env, "bench start", "")
	rtt := fs.Duration("rtt", 40*time.Millisecond, "round trip added by the link shaper (half on each side)")
	runs := fs.Int("runs", 30, "fetches per path")
	size := fs.Int("size", 0, "bytes fetched (default: one chunk, 16 KiB)")
	posArgs, err := parseFlags(fs, args[1:])
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
