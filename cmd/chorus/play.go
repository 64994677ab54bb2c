package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/protocol"
)

func defaultClientDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "chorus")
	}
	return ".chorus"
}

// clientCacheDir is where play --swarm and node keep the chunk cache of
// the client data directory dir: for the default directory (which is
// chorus daemon's config directory) the daemon's cache directory, where
// the daemon looks for it (it would move a cache found in its config
// directory away, leaving the node an empty one); elsewhere dir/cache.
func clientCacheDir(dir string) string {
	if p, err := daemon.DefaultPaths(); err == nil && filepath.Clean(dir) == filepath.Clean(p.Config) {
		return filepath.Join(p.Cache, "cache")
	}
	return filepath.Join(dir, "cache")
}

func runPlay(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "play", "TRACK_ID")
	trackerURL := fs.String("tracker", envOr("CHORUS_TRACKER", "http://127.0.0.1:7070"), "tracker base URL (env CHORUS_TRACKER)")
	user := fs.String("user", envOr("CHORUS_USER", ""), "account name; the password is read from a prompt or stdin (env CHORUS_USER)")
	dataDir := fs.String("data", envOr("CHORUS_CLIENT_DATA", defaultClientDir()), "client data directory: pinned tracker keys (env CHORUS_CLIENT_DATA)")
	originCA := fs.String("origin-ca", envOr("CHORUS_ORIGIN_CA", ""), "PEM file of a CA to trust for origins, e.g. a dev origin's origin-ca.pem (env CHORUS_ORIGIN_CA)")
	proto := fs.String("origin-proto", "auto", "protocol to origins: "+origin.Protocols+" (auto: HTTP/3, and HTTP/2 beside it when HTTP/3 does not answer within 300 ms)")
	out := fs.String("out", "", "write the decrypted track to this file (required; - for stdout)")
	timeout := fs.Duration("timeout", 30*time.Minute, "end the play after this long in all")
	giveUp := fs.Duration("give-up", 0, "end the play when it cannot progress for this long: no source answers (0: the client default, 15s)")
	swarm := fs.Bool("swarm", false, "join the swarm for this play: fetch from peers, cache in DATA/cache (for the default --data, in the daemon's cache directory), share while playing")
	sf := addSwarmFlags(fs)
	speed := fs.Float64("speed", 1, "playback clock speed: 1 writes the track in real time, as a player would; 8 eight times faster")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) != 1 {
		fs.Usage()
		return errors.New("play needs exactly one TRACK_ID")
	}
	if *out == "" {
		return errors.New("play needs --out FILE (or --out - for stdout)")
	}
	if *user == "" {
		return errors.New("play needs --user NAME")
	}
	if *speed <= 0 {
		return fmt.Errorf("--speed %v: want a positive factor", *speed)
	}
	if *giveUp < 0 {
		return fmt.Errorf("--give-up %v: want a positive duration (or 0 for the default)", *giveUp)
	}
	outFile, err := openOutput(ctx, *out, env.stdout) // before any download
	if err != nil {
		return err
	}
	defer outFile.Abort()
	// The session in DATA/session.json is kept only by the directory's
	// owner: a plain play beside a running node or daemon (which own it and
	// rotate its refresh token) logs in on its own instead.
	keepSession := true
	if *swarm {
		release, err := lockClientDir(*dataDir, "chorus play --swarm", "--data")
		if err != nil {
			return err
		}
		defer release()
	} else if release, err := lockClientDir(*dataDir, "chorus play", "--data"); err != nil {
		keepSession = false
		env.log.Info("not keeping the tracker session", "reason", err)
	} else {
		defer release()
	}
	originHTTP, err := originClient(*originCA, *proto)
	if err != nil {
		return err
	}
	defer origin.CloseClient(originHTTP)

	interrupted := ctx
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	password := func() (string, error) {
		return readPassword(env, fmt.Sprintf("password for %s: ", *user), false)
	}
	var (
		tr      *client.Tracker
		resumed bool
	)
	if *swarm {
		// A swarm play needs its node's ticket before it plays: log in (or
		// renew) first.
		tr, err = loginTracker(ctx, *trackerURL, *dataDir, *user, keepSession, password)
	} else {
		// A plain play's first tracker request is the start: it renews the
		// saved session, or logs in with the password read now, and
		// brings the manifest, the key and the network list (the origins)
		// in one round trip.
		tr, resumed, err = openClientTracker(*trackerURL, *dataDir, *user, keepSession)
		if err == nil && !resumed {
			var pw string
			if pw, err = password(); err == nil {
				tr.LoginOnStart(*user, pw)
			}
		}
	}
	if err != nil {
		return err
	}
	defer tr.Close()
	originsOf := func(ni protocol.NetworkInfo) ([]client.ChunkSource, error) {
		var origins []client.ChunkSource
		for _, u := range ni.Origins {
			src, err := client.NewOriginSource(u, originHTTP)
			if err != nil {
				return nil, err
			}
			origins = append(origins, src)
		}
		return origins, nil
	}
	if saved, ok, err := tr.SavedNetwork(); err != nil {
		env.log.Info("not using the saved network list", "err", err)
	} else if ok && !*swarm {
		// Open the connections to the last run's origins now, beside the
		// start: the origins its answer names find them open.
		for _, u := range saved.Origins {
			if src, err := client.NewOriginSource(u, originHTTP); err == nil {
				go src.Connect(ctx) //nolint:errcheck // a warm-up only: a failure costs the first request its handshake
			}
		}
	}
	copts := client.Options{Tracker: tr, OriginsFromNetwork: originsOf, Logger: env.log, Sched: sched.Config{Speed: *speed}, GiveUpAfter: *giveUp}
	if *swarm {
		netinfo, err := tr.Network(ctx)
		if err != nil {
			return err
		}
		if copts.Origins, err = originsOf(netinfo); err != nil {
			return err
		}
		so, err := sf.options(*dataDir, env, false)
		if err != nil {
			return err
		}
		m, err := client.JoinSwarm(ctx, tr, so)
		if err != nil {
			return err
		}
		defer m.Close()
		copts.Swarm, copts.Cache = m.Node, m.Cache
	}
	c, err := client.New(copts)
	if err != nil {
		return err
	}
	defer c.Close()
	pb, err := c.Play(ctx, posArgs[0])
	if resumed && errors.Is(err, client.ErrUnauthorized) {
		// The saved session was revoked or has expired at the tracker:
		// log in with the next start.
		pw, perr := password()
		if perr != nil {
			return perr
		}
		tr.LoginOnStart(*user, pw)
		pb, err = c.Play(ctx, posArgs[0])
	}
	if err != nil {
		return loginError(*trackerURL, *user, err)
	}
	defer pb.Close()
	// A blocked read of the playback ends when the play is interrupted or
	// times out.
	stopClosing := context.AfterFunc(ctx, func() { pb.Close() })
	defer stopClosing()
	playErr := copyOutput(outFile, &pacedReader{ctx: ctx, pb: pb, clock: clock.Real{}})
	// The statistics are printed whatever happened: they tell how far the
	// play got and from where.
	enc := json.NewEncoder(env.stdout)
	if *out == "-" {
		enc = json.NewEncoder(env.stderr)
	}
	enc.SetIndent("", "  ")
	statsErr := enc.Encode(pb.Stats())
	switch {
	case playErr == nil:
		return statsErr
	case interrupted.Err() != nil:
		return fmt.Errorf("play interrupted: %w", context.Cause(interrupted))
	case errors.Is(playErr, context.DeadlineExceeded) && ctx.Err() != nil:
		return fmt.Errorf("play did not finish within --timeout %v", *timeout)
	}
	return playErr
}

// originClient builds the HTTP client for origins.
func originClient(caFile, proto string) (*http.Client, error) {
	var roots *x509.CertPool
	if caFile != "" {
		var err error
		if roots, err = origin.LoadCertPool(caFile); err != nil {
			return nil, fmt.Errorf("--origin-ca: %w", err)
		}
	}
	hc, err := origin.NewClientFor(proto, roots)
	if err != nil {
		return nil, fmt.Errorf("--origin-proto: %w", err)
	}
	return hc, nil
}

// pacedReader reads a playback no faster than its playhead moves on the
// playback clock, as an audio device would consume it. It reads the
// playback ahead of the playhead (blocking until the data arrives or the
// play fails, so a failure surfaces at once) and hands the bytes on as the
// playhead passes them.
type pacedReader struct {
	ctx     context.Context
	pb      *client.Playback
	clock   clock.Clock
	read    int64  // bytes handed on
	buf     []byte // read from the playback, not yet handed on
	scratch [32 << 10]byte
}

// paceTick is how often a paced reader looks at the playhead.
const paceTick = 20 * time.Millisecond

func (r *pacedReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		n, err := r.pb.Read(r.scratch[:])
		if n == 0 {
			return 0, err
		}
		r.buf = r.scratch[:n]
	}
	for {
		pos, started := r.pb.Position()
		if end := r.pb.Manifest().ByteLength; started && pos >= end {
			pos = end
		}
		if started && pos > r.read {
			n := copy(p, r.buf[:min(int64(len(r.buf)), pos-r.read)])
			r.read += int64(n)
			r.buf = r.buf[n:]
			return n, nil
		}
		if err := r.pb.Err(); err != nil {
			return 0, err // the play gave up: say why, do not wait on a clock that stopped
		}
		wait := make(chan struct{})
		t := r.clock.AfterFunc(paceTick, func() { close(wait) })
		select {
		case <-wait:
		case <-r.ctx.Done():
			t.Stop()
			return 0, r.ctx.Err()
		}
	}
}
