package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/client/daemon"
)

// dirFlags are the config and cache directory flags shared by daemon,
// login and ctl.
type dirFlags struct{ config, cache *string }

func addDirFlags(fs *flag.FlagSet) dirFlags {
	return dirFlags{
		config: fs.String("config-dir", envOr("CHORUS_CONFIG_DIR", ""), "config directory: config.json, API key, session, node identity, pinned tracker keys (env CHORUS_CONFIG_DIR; default os.UserConfigDir()/chorus)"),
		cache:  fs.String("cache-dir", envOr("CHORUS_CACHE_DIR", ""), "cache directory: the chunk cache (env CHORUS_CACHE_DIR; default os.UserCacheDir()/chorus)"),
	}
}

func (f dirFlags) paths() (daemon.Paths, error) {
	p, err := daemon.DefaultPaths()
	if *f.config != "" {
		p.Config = *f.config
	}
	if *f.cache != "" {
		p.Cache = *f.cache
	}
	if p.Config == "" || p.Cache == "" {
		return p, fmt.Errorf("%w (or pass --config-dir and --cache-dir)", err)
	}
	return p, nil
}

// ctlCommand is the chorus ctl line that reaches this daemon: with
// --config-dir (absolute, so it works from any directory) when the daemon
// was given one, since a bare `chorus ctl` finds the default one's.
func ctlCommand(configDir, args string) string {
	if configDir == "" {
		return "chorus ctl " + args
	}
	if abs, err := filepath.Abs(configDir); err == nil {
		configDir = abs
	}
	return "chorus ctl --config-dir " + configDir + " " + args
}

// settingFlags adds a flag for every daemon setting; resolve applies the
// ones given, then the environment, over the config file.
type settingFlags struct {
	fs   *flag.FlagSet
	vals map[string]*string
}

func addSettingFlags(fs *flag.FlagSet) settingFlags {
	sf := settingFlags{fs: fs, vals: map[string]*string{}}
	for _, s := range daemon.Settings() {
		sf.vals[s.Flag] = fs.String(s.Flag, "", fmt.Sprintf("%s (env %s; default from config.json)", s.Help, s.Env))
	}
	return sf
}

func (sf settingFlags) resolve(cfg *daemon.Config) error {
	given := map[string]bool{}
	sf.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range daemon.Settings() {
		v, ok := *sf.vals[s.Flag], given[s.Flag]
		if !ok {
			v, ok = os.LookupEnv(s.Env)
		}
		if !ok {
			continue
		}
		if err := s.Set(cfg, v); err != nil {
			return err
		}
	}
	return cfg.Validate()
}

// runDaemon is the listener's daemon: it resumes the session `chorus
// login` stored, joins the swarm, shares politely and serves the local API
// until SIGINT or SIGTERM.
func runDaemon(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "daemon", "")
	dirs := addDirFlags(fs)
	sets := addSettingFlags(fs)
	remote := fs.Bool("api-remote", false, "allow --api on an address other than loopback: anyone who reaches it with the key controls the daemon and hears its audio")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	paths, err := dirs.paths()
	if err != nil {
		return err
	}
	// The config directory holds the node identity and the session, as a
	// `chorus node` data directory does: one owner at a time.
	release, err := lockClientDir(paths.Config, "chorus daemon", "--config-dir")
	if err != nil {
		return err
	}
	defer release()
	cfg, created, err := daemon.LoadConfig(paths)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(env.stdout, "first run: wrote the default settings to %s\n", paths.Config+"/"+daemon.ConfigFile)
	}
	if err := sets.resolve(&cfg); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(cfg.API)
	if err != nil {
		return fmt.Errorf("--api %q: want HOST:PORT: %w", cfg.API, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		if !*remote {
			return fmt.Errorf("--api %s is not a loopback address; add --api-remote if you mean to serve the API beyond this machine", cfg.API)
		}
		env.log.Warn("the API listens beyond loopback: anyone who can reach it and has the key controls this daemon and hears its audio, over plain HTTP", "api", cfg.API)
	}
	ln, err := net.Listen("tcp", cfg.API)
	if err != nil {
		return fmt.Errorf("listen on %s for the API: %w (is another daemon running? change --api)", cfg.API, err)
	}
	d, err := daemon.New(daemon.Options{Paths: paths, Config: cfg, API: ln, Logger: env.log})
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(env.stdout, "chorus daemon: API %s\n", d.URL())
	fmt.Fprintf(env.stdout, "open the player (one-time link): %s\n", d.LoginLink())
	fmt.Fprintf(env.stdout, "try: %s   (config %s, cache %s)\n", ctlCommand(*dirs.config, "status"), paths.Config, paths.Cache)
	err = d.Run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	fmt.Fprintln(env.stdout, "chorus daemon: stopped")
	return err
}

// runLogin logs in once and stores the session for the daemon.
func runLogin(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "login", "")
	dirs := addDirFlags(fs)
	trackerURL := fs.String("tracker", envOr("CHORUS_TRACKER", ""), "tracker base URL (env CHORUS_TRACKER; default from config.json)")
	user := fs.String("user", envOr("CHORUS_USER", ""), "account name; the password is read from a prompt or stdin (env CHORUS_USER; default from config.json)")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	paths, err := dirs.paths()
	if err != nil {
		return err
	}
	cfg, _, err := daemon.LoadConfig(paths)
	if err != nil {
		return err
	}
	if *trackerURL == "" {
		*trackerURL = cfg.Tracker
	}
	if *user == "" {
		*user = cfg.User
	}
	if *user == "" {
		return errors.New("login needs --user NAME")
	}
	password, err := readPassword(env, fmt.Sprintf("password for %s at %s: ", *user, *trackerURL), false)
	if err != nil {
		return err
	}
	if err := daemon.Login(ctx, paths, strings.TrimRight(*trackerURL, "/"), *user, password); err != nil {
		if errors.Is(err, client.ErrTrackerUnreachable) { // a wrong password is already said so
			return loginError(*trackerURL, *user, err)
		}
		return err
	}
	fmt.Fprintf(env.stdout, "logged in as %s at %s; the daemon keeps and renews this session (%s/%s)\n", *user, *trackerURL, paths.Config, daemon.SessionFile)
	return nil
}
