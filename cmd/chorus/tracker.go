package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/tracker"
)

// trackerHome is the layout of a tracker's data directory.
type trackerHome struct{ dir string }

func (h trackerHome) db() string     { return filepath.Join(h.dir, "tracker.db") }
func (h trackerHome) chunks() string { return filepath.Join(h.dir, "chunks") }

// openTracker opens the tracker's store and a Server over it, for the
// operator commands that act on a data directory directly.
func openTracker(env *cmdEnv, dataDir, storeURL string, opts tracker.Options) (*tracker.Server, func(), error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := openStore(dataDir, storeURL)
	if err != nil {
		return nil, nil, err
	}
	opts.Store = st
	if opts.Logger == nil {
		opts.Logger = env.log.With("component", "tracker")
	}
	srv, err := tracker.New(opts)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return srv, func() { srv.Close(); st.Close() }, nil
}

func dataFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("data", envOr("CHORUS_DATA", "chorus-data"), "tracker data directory: tracker.db, chunks/, tls/ (env CHORUS_DATA)")
}

func runTracker(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "tracker", "")
	dataDir := dataFlag(fs)
	storeURL := storeFlag(fs)
	var proxies prefixList
	fs.Var(&proxies, "trusted-proxy", "network (CIDR) of a reverse proxy or load balancer whose X-Forwarded-For is believed (repeatable)")
	keyRefresh := fs.Duration("key-refresh", time.Second, "how stale the signing keys may be when another tracker on the same store rotates them")
	listen := fs.String("listen", envOr("CHORUS_TRACKER_LISTEN", "127.0.0.1:7070"), "host:port of the HTTP API (env CHORUS_TRACKER_LISTEN)")
	var origins stringList
	fs.Var(&origins, "origin", "base URL of an origin to list to clients (repeatable)")
	serveOrigin := fs.String("serve-origin", "", "also serve as an origin (and the API over HTTPS and HTTP/3) on this host:port")
	tlsFlags := addTLSFlags(fs)
	accessTTL := fs.Duration("access-ttl", 15*time.Minute, "access token lifetime")
	ticketTTL := fs.Duration("ticket-ttl", time.Hour, "peer admission ticket lifetime")
	dhtListen := fs.String("dht-listen", "", "also run an always-on DHT server node on this QUIC multiaddr (e.g. /ip4/127.0.0.1/udp/7071/quic-v1): it keeps provider records in DATA/dht/records.db and heads the bootstrap list")
	dhtLifetime := fs.Duration("dht-record-lifetime", dhtRecordLifetime, "how long the DHT server keeps a provider record after its last announcement")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	srv, closeTracker, err := openTracker(env, *dataDir, *storeURL, tracker.Options{Origins: origins, AccessTTL: *accessTTL, TicketTTL: *ticketTTL,
		TrustedProxies: proxies, KeyRefresh: *keyRefresh})
	if err != nil {
		return err
	}
	defer closeTracker()

	var api http.Handler = srv
	if *dhtListen != "" {
		d, err := startDHTServer(ctx, env, srv, filepath.Join(*dataDir, "dht"), *dhtListen, *dhtLifetime, *ticketTTL)
		if err != nil {
			return err
		}
		defer d.Close()
		srv.SetDHTServers(d.BootstrapAddrs())
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("tracker listen: %w", err)
	}
	hs := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	env.log.Info("tracker serving", "url", "http://"+ln.Addr().String(), "data", *dataDir, "store", storeName(*storeURL))

	running := 1
	if *serveOrigin != "" {
		store, err := openChunks(trackerHome{*dataDir}.chunks(), env)
		if err != nil {
			return err
		}
		tlsConf, err := tlsFlags.config(*dataDir, env)
		if err != nil {
			return err
		}
		// One registry for both, so /metrics on either port shows both.
		osrv, err := origin.New(origin.Options{Store: store, TLS: tlsConf, Logger: env.log.With("component", "origin"), Extra: api, Registry: srv.Registry()})
		if err != nil {
			return err
		}
		ols, err := origin.Listen(*serveOrigin)
		if err != nil {
			return err
		}
		if err := srv.AddOrigin(ols.URL()); err != nil {
			return err
		}
		env.log.Info("origin serving", "url", ols.URL())
		running++
		go func() { errc <- osrv.Serve(ctx, ols.UDP, ols.TCP) }()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		running--
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && first == nil {
		first = err
	}
	for ; running > 0; running-- {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
		}
	}
	if errors.Is(first, http.ErrServerClosed) {
		first = nil
	}
	return first
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runUser(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: chorus user add [--data DIR] NAME (password from a prompt or stdin)")
	}
	fs := newFlags(env, "user add", "NAME")
	dataDir := dataFlag(fs)
	storeURL := storeFlag(fs)
	posArgs, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(posArgs) != 1 {
		fs.Usage()
		return errors.New("user add needs exactly one NAME")
	}
	password, err := readPassword(env, fmt.Sprintf("new password for %s: ", posArgs[0]), true)
	if err != nil {
		return err
	}
	srv, closeTracker, err := openTracker(env, *dataDir, *storeURL, tracker.Options{})
	if err != nil {
		return err
	}
	defer closeTracker()
	if err := srv.CreateAccount(ctx, posArgs[0], password); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "account %s created\n", posArgs[0])
	return nil
}

func runKeys(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return errors.New("usage: chorus keys rotate|list [--data DIR]")
	}
	fs := newFlags(env, "keys "+args[0], "")
	dataDir := dataFlag(fs)
	storeURL := storeFlag(fs)
	posArgs, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	srv, closeTracker, err := openTracker(env, *dataDir, *storeURL, tracker.Options{})
	if err != nil {
		return err
	}
	defer closeTracker()
	if args[0] == "rotate" {
		id, err := srv.RotateKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "new signing key %s; earlier keys are retired and still verify\n", id)
		return nil
	}
	for _, k := range srv.Keyring().Published().Keys {
		state := "current"
		if k.Retired {
			state = "retired"
		}
		fmt.Fprintf(env.stdout, "%s\t%s\t%s\n", k.KeyID, k.CreatedAt.Format(time.RFC3339), state)
	}
	return nil
}
