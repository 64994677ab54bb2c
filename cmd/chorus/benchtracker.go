package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/store/postgres"
	"github.com/chorus-music/chorus/tracker/store/sqlite"
	"github.com/chorus-music/chorus/tracker/trackerbench"
)

// benchTracker loads a tracker over loopback with an open-loop generator.
func benchTracker(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "bench tracker", "")
	storeURL := fs.String("store", "", "store to benchmark: empty for a new SQLite file in a temp dir, or postgres://... (a database of its own)")
	rates := fs.String("rates", "10000,5000", "arrival rates (requests/s) to run each route at, comma-separated")
	routes := fs.String("routes", strings.Join(trackerbench.Routes, ","), "routes to load: "+strings.Join(trackerbench.Routes, ","))
	duration := fs.Duration("duration", 3*time.Second, "length of each route-and-rate phase (its requests are rate x duration)")
	conns := fs.Int("conns", 256, "requests in flight at most (connections)")
	logins := fs.Int("logins", 20, "logins to time at the argon2id cost below (0: none)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (tracker and generator) to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the run (tracker and generator) to this file")
	blockProfile := fs.String("blockprofile", "", "write a profile of where goroutines blocked (channels, locks, select) to this file")
	mutexProfile := fs.String("mutexprofile", "", "write a profile of contended mutexes to this file")
	var argon tracker.Argon2Params
	argonTime := fs.Uint("argon2-time", 2, "argon2id passes (the tracker's default)")
	argonMem := fs.Uint("argon2-memory", 64<<10, "argon2id memory in KiB (the tracker's default)")
	argonThreads := fs.Uint("argon2-threads", 2, "argon2id lanes (the tracker's default)")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	o := trackerbench.Options{Duration: *duration, Conns: *conns, Logins: *logins, Routes: strings.Split(*routes, ","), Logger: env.log,
		TrackerLogger: slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if *logins == 0 {
		o.Logins = -1
	}
	for _, r := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil {
			return fmt.Errorf("--rates: %q is not a number", r)
		}
		o.Rates = append(o.Rates, n)
	}
	if *argonTime > 64 || *argonMem > 1<<20 || *argonThreads > 64 {
		return fmt.Errorf("argon2 parameters out of range")
	}
	argon = tracker.Argon2Params{Time: uint32(*argonTime), MemoryK: uint32(*argonMem), Threads: uint8(*argonThreads)}
	o.Argon2 = argon
	var st store.Store
	if *storeURL == "" {
		dir, err := os.MkdirTemp("", "chorus-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		s, err := sqlite.Open(filepath.Join(dir, "tracker.db"))
		if err != nil {
			return err
		}
		st, o.StoreName = s, "sqlite (WAL, one writer, "+strconv.Itoa(sqlite.MaxReaders)+" readers)"
	} else {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s, err := postgres.Open(octx, *storeURL)
		cancel()
		if err != nil {
			return fmt.Errorf("--store: %w", err)
		}
		st, o.StoreName = s, "postgres ("+storeName(*storeURL)+")"
	}
	defer st.Close()
	fmt.Fprintf(env.stderr, "loading a tracker on %s: %s req/s per route, %v each...\n", o.StoreName, *rates, *duration)
	o.Store = st
	cpu, err := createProfile("--cpuprofile", *cpuProfile)
	if err != nil {
		return err
	}
	if cpu != nil {
		defer cpu.Close()
		if err := pprof.StartCPUProfile(cpu); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// The other profiles' files are created before the run, so a bad path
	// fails at once, and written after it.
	var profiles []namedProfile
	for _, p := range []namedProfile{
		{flag: "--memprofile", file: *memProfile, name: "allocs"},
		{flag: "--blockprofile", file: *blockProfile, name: "block"},
		{flag: "--mutexprofile", file: *mutexProfile, name: "mutex"},
	} {
		f, err := createProfile(p.flag, p.file)
		if err != nil {
			return err
		}
		if f == nil {
			continue
		}
		defer f.Close()
		p.f = f
		profiles = append(profiles, p)
	}
	if *blockProfile != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond)) // a sample per 10 µs blocked
		defer runtime.SetBlockProfileRate(0)
	}
	if *mutexProfile != "" {
		defer runtime.SetMutexProfileFraction(runtime.SetMutexProfileFraction(10))
	}
	rep, err := trackerbench.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Print(env.stdout)
	for _, p := range profiles {
		if err := pprof.Lookup(p.name).WriteTo(p.f, 0); err != nil {
			return fmt.Errorf("%s: write %s: %w", p.flag, p.file, err)
		}
		if err := p.f.Close(); err != nil {
			return fmt.Errorf("%s: write %s: %w", p.flag, p.file, err)
		}
	}
	return nil
}

// namedProfile is a runtime profile (pprof.Lookup's name: allocs, block,
// mutex) to write to file, asked for by flag.
type namedProfile struct {
	flag, file, name string
	f                *os.File
}
