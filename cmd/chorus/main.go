package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv carries what commands share: streams and the logger.
type cmdEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	level  *slog.LevelVar // log's level, set by every command's --log-level
}

func commands() map[string]command {
	return map[string]command{
		"demo":    {"run a tracker, an origin and peers on loopback with generated tracks, and play some", runDemo},
		"tracker": {"run the tracker (accounts, catalog, keys, tickets); optionally also an origin", runTracker},
		"origin":  {"serve encrypted chunks over HTTP/3, HTTP/2 and HTTP/1.1", runOrigin},
		"user":    {"manage accounts: user add NAME (password from a prompt or stdin)", runUser},
		"ingest":  {"ingest audio FILES|DIRS into the tracker's catalog and chunk store", runIngest},
		"gc":      {"remove chunks no track refers to (left by interrupted ingests)", runGC},
		"keys":    {"manage the tracker's signing keys: keys rotate | keys list", runKeys},
		"bench":   {"measure over shaped links: bench start (start latency) | bench plays (whole plays in a swarm) | bench tracker (tracker load)", runBench},
		"node":    {"run a listener's node: join the swarm and share the cache until Ctrl-C", runNode},
		"play":    {"log in and play a track: play TRACK --out FILE, prints the play's stats as JSON", runPlay},
		"migrate": {"copy the tracker's SQLite store into an empty PostgreSQL database and verify it: migrate --to postgres://...", runMigrate},
		"version": {"print the version, VCS revision and Go version this binary was built from", runVersion},
		"daemon":  {"run the listener's daemon: session, swarm node, cache, local API and audio stream", runDaemon},
		"login":   {"log in once for the daemon: login --user NAME (password from a prompt or stdin)", runLogin},
		"ctl":     {"control the running daemon: ctl status | search WORDS | play ID | pause | next | queue ... | url", runCtl},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if helpAsked(os.Args[1:]) {
				os.Exit(0) // the usage was asked for and printed
			}
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "chorus:", err)
		if ue := (*usageError)(nil); errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// helpAsked reports whether the command line asks for help (-h, -help or
// --help before any "--"), as opposed to usage printed for a mistake.
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help", "--h":
			return true
		}
	}
	return false
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return nil
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return fmt.Errorf("unknown command %q", args[0])
	}
	level := new(slog.LevelVar) // info
	env := &cmdEnv{
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
		log:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		level:  level,
	}
	return cmd.run(ctx, env, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: chorus COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nrun 'chorus COMMAND -h' for a command's flags")
}

// usageError is a mistake on a command's command line.
type usageError struct {
	cmd string // as in "chorus CMD -h"
	err error
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%v (run 'chorus %s -h' for its flags)", e.err, e.cmd)
}

func (e *usageError) Unwrap() error { return e.err }

// envOr returns the environment variable key, or def when it is unset.
func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(env *cmdEnv, name, argsUsage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Func("log-level", "log messages at this level and above: debug, info, warn or error (default info)", func(v string) error {
		var l slog.Level
		if err := l.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("want debug, info, warn or error")
		}
		env.level.Set(l)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "usage: chorus %s [flags] %s\n\nflags:\n", name, argsUsage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs, allowing flags after positional
// arguments (chorus play TRACK --out f.wav); "--" ends flag parsing. It
// returns the positional arguments.
//
// A mistake on the command line (an unknown flag, a bad value) returns a
// *usageError naming it and how to list the flags, printed once by main;
// only -h prints the whole usage.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard) // the flag package's own copy of the error
	defer func() { fs.Usage = usage; fs.SetOutput(out) }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				usage()
				return nil, err
			}
			return nil, &usageError{cmd: fs.Name(), err: err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
