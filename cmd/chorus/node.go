package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/node"
)

// swarmFlags are the flags of a listener's swarm node.
type swarmFlags struct {
	listen     *string
	cacheBytes *int64
	slots      *int
	rate       *int64
	noShare    *bool
}

func addSwarmFlags(fs interface {
	String(name, value, usage string) *string
	Int64(name string, value int64, usage string) *int64
	Int(name string, value int, usage string) *int
	Bool(name string, value bool, usage string) *bool
}) swarmFlags {
	return swarmFlags{
		listen:     fs.String("listen", envOr("CHORUS_NODE_LISTEN", "/ip4/127.0.0.1/udp/0/quic-v1"), "QUIC multiaddrs the node listens on, comma-separated (env CHORUS_NODE_LISTEN)"),
		cacheBytes: fs.Int64("cache-bytes", 0, "bound of the chunk cache in bytes (default 10% of free disk, at most 10 GiB)"),
		slots:      fs.Int("upload-slots", 4, "peers served at once"),
		rate:       fs.Int64("upload-rate", 0, "upload cap in bytes per second over all peers (0: no cap)"),
		noShare:    fs.Bool("no-share", false, "serve nothing to other peers"),
	}
}

func (f swarmFlags) options(dir string, env *cmdEnv, announce bool) (client.SwarmOptions, error) {
	if *f.slots < 0 || *f.rate < 0 || *f.cacheBytes < 0 {
		return client.SwarmOptions{}, errors.New("--upload-slots, --upload-rate and --cache-bytes must not be negative")
	}
	return client.SwarmOptions{
		Dir:           dir,
		CacheDir:      clientCacheDir(dir),
		ListenAddrs:   strings.Split(*f.listen, ","),
		CacheMaxBytes: *f.cacheBytes,
		Upload:        node.UploadOptions{Slots: *f.slots, BytesPerSecond: *f.rate, Disabled: *f.noShare},
		Announce:      announce,
		Logger:        env.log,
	}, nil
}

// runNode is the listener's daemon: it logs in, joins the swarm with the
// cache in its data directory, offers itself as a bootstrap peer, and
// shares what it holds until Ctrl-C.
func runNode(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "node", "")
	trackerURL := fs.String("tracker", envOr("CHORUS_TRACKER", "http://127.0.0.1:7070"), "tracker base URL (env CHORUS_TRACKER)")
	user := fs.String("user", envOr("CHORUS_USER", ""), "account name; the password is read from a prompt or stdin (env CHORUS_USER)")
	dataDir := fs.String("data", envOr("CHORUS_CLIENT_DATA", defaultClientDir()), "client data directory: pinned keys, node identity, cache (env CHORUS_CLIENT_DATA)")
	sf := addSwarmFlags(fs)
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	if *user == "" {
		return errors.New("node needs --user NAME")
	}
	release, err := lockClientDir(*dataDir, "chorus node", "--data")
	if err != nil {
		return err
	}
	defer release()
	tr, err := loginTracker(ctx, *trackerURL, *dataDir, *user, true, func() (string, error) {
		return readPassword(env, fmt.Sprintf("password for %s: ", *user), false)
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	so, err := sf.options(*dataDir, env, true)
	if err != nil {
		return err
	}
	m, err := client.JoinSwarm(ctx, tr, so)
	if err != nil {
		return err
	}
	defer m.Close()
	env.log.Info("node sharing", "peer", m.Node.ID().String(), "addrs", fmt.Sprint(m.Node.Addrs()),
		"cache", clientCacheDir(*dataDir), "cache_bytes", m.Cache.Size(), "held_tracks", len(m.Node.Held()))
	fmt.Fprintf(env.stdout, "node %s sharing %d tracks; Ctrl-C to stop\n", m.Node.ID(), len(m.Node.Held()))
	<-ctx.Done()
	return nil
}

// loginTracker logs in with keys pinned in dataDir.
func loginTracker(ctx context.Context, url, dataDir, user string, keepSession bool, password func() (string, error)) (*client.Tracker, error) {
	tr, resumed, err := openClientTracker(url, dataDir, user, keepSession)
	if err != nil {
		return nil, err
	}
	if resumed {
		// The network list is the first request every command makes (and
		// is kept): it renews the saved session if its access token
		// expired, and tells whether the tracker still honours it.
		_, err := tr.Network(ctx)
		switch {
		case err == nil:
			return tr, nil
		case errors.Is(err, client.ErrTrackerUnreachable):
			return nil, loginError(url, user, err)
		case !errors.Is(err, client.ErrUnauthorized) && !errors.Is(err, client.ErrNotLoggedIn):
			return nil, err
		}
		// Revoked or expired at the tracker: log in again.
	}
	pw, err := password()
	if err != nil {
		return nil, err
	}
	if err := tr.Login(ctx, user, pw); err != nil {
		return nil, loginError(url, user, err)
	}
	return tr, nil
}

// openClientTracker makes the tracker client with the keys pinned in dataDir
// and, with keepSession, the session and the network list saved there (it
// takes up the session when it is user's: resumed), without a request.
func openClientTracker(url, dataDir, user string, keepSession bool) (tr *client.Tracker, resumed bool, err error) {
	pins, err := client.OpenPins(filepath.Join(dataDir, "tracker-keys.json"))
	if err != nil {
		return nil, false, err
	}
	var sessionFile, networkFile string
	if keepSession {
		sessionFile = filepath.Join(dataDir, "session.json")
		networkFile = filepath.Join(dataDir, "network.json")
	}
	tr, err = client.NewTracker(client.TrackerOptions{URL: url, Pins: pins, SessionFile: sessionFile, NetworkFile: networkFile})
	if err != nil {
		return nil, false, err
	}
	resumed, err = tr.Resume()
	if err != nil {
		return nil, false, err
	}
	return tr, resumed && tr.Account() == user, nil
}
