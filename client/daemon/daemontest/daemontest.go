package daemontest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/sim/cluster"
	"github.com/chorus-music/chorus/tracker"
)

// Options configure a test swarm. The zero value is three short tracks,
// two peers and a daemon at 4x speed.
type Options struct {
	// Tracks are the generated tracks; nil means three short ones (8 kHz
	// mono WAV, 12 to 30 s).
	Tracks []samples.Named
	// Files are further audio files to ingest (e.g. catalog/testdata).
	Files []string
	// Peers is the number of swarm listeners besides the daemon; each
	// plays the first track so peers hold it. Negative means none; zero
	// means 2.
	Peers int
	// Speed is the daemon's playback clock speed; zero means 4.
	Speed float64
	// Logger receives every component's logs; nil writes warnings to the
	// test log.
	Logger *slog.Logger
}

// Swarm is a running test network with a daemon.
type Swarm struct {
	Cluster *cluster.Cluster
	Daemon  *daemon.Daemon
	// URL is the daemon's API base, e.g. http://127.0.0.1:PORT.
	URL string
	// APIKey goes in the X-API-Key header.
	APIKey string
	// LoginLink is a one-time link that sets the browser cookie.
	LoginLink string
	// Tracks are the ingested tracks, generated ones first.
	Tracks []protocol.TrackSummary
	// Paths are the daemon's config and cache directories.
	Paths daemon.Paths
	// Password of the account "listener".
	Password string
	// OriginCA is the dev origin's CA file, which the daemon trusts.
	OriginCA string
	// Peers are the swarm listeners besides the daemon (the first holds
	// the first track).
	Peers []*cluster.Listener
}

// DefaultTracks are short generated tracks, a few dozen chunks each.
func DefaultTracks() []samples.Named {
	return []samples.Named{
		{FileName: "Test Ensemble - Short Wave.wav", Spec: samples.Spec{Seconds: 20, SampleRate: 8000, Channels: 1, Seed: 11}},
		{FileName: "Test Ensemble - Quick Step.wav", Spec: samples.Spec{Seconds: 12, SampleRate: 8000, Channels: 1, Seed: 12}},
		{FileName: "The Testers - Long Road.wav", Spec: samples.Spec{Seconds: 30, SampleRate: 8000, Channels: 1, Seed: 13}},
	}
}

// Start builds the swarm and starts the daemon; everything stops at the
// end of the test. It sets XDG_CONFIG_HOME, XDG_CACHE_HOME and HOME to
// fresh directories (so the test must not be parallel).
func Start(t testing.TB, o Options) *Swarm {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.Tracks == nil {
		o.Tracks = DefaultTracks()
	}
	if o.Peers == 0 {
		o.Peers = 2
	}
	if o.Speed == 0 {
		o.Speed = 4
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))

	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Start(ctx, cluster.Options{Dir: filepath.Join(dir, "net"), Logger: log, Argon2: tracker.Argon2Params{Time: 1, MemoryK: 64, Threads: 1}})
	if err != nil {
		t.Fatalf("daemontest: cluster: %v", err)
	}
	s := &Swarm{Cluster: c, Password: "listener-password", OriginCA: filepath.Join(dir, "net", "tls", "origin-ca.pem")}
	t.Cleanup(func() { c.Close() })
	if err := c.AddUser(ctx, "listener", s.Password); err != nil {
		t.Fatalf("daemontest: add user: %v", err)
	}
	music := filepath.Join(dir, "music")
	if err := os.MkdirAll(music, 0o700); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, n := range o.Tracks {
		p := filepath.Join(music, n.FileName)
		if err := samples.WriteFile(p, n.Spec); err != nil {
			t.Fatalf("daemontest: %v", err)
		}
		paths = append(paths, p)
	}
	paths = append(paths, o.Files...)
	if s.Tracks, err = c.Ingest(ctx, paths...); err != nil {
		t.Fatalf("daemontest: ingest: %v", err)
	}
	for i := range max(o.Peers, 0) {
		l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: fmt.Sprintf("peer%d", i), User: "listener", Password: s.Password, Swarm: true, Sched: sched.Config{Speed: 50}})
		if err != nil {
			t.Fatalf("daemontest: peer: %v", err)
		}
		select {
		case <-l.Node.Bootstrapped():
		case <-time.After(time.Minute):
			t.Fatal("daemontest: a peer did not bootstrap within a minute")
		}
		s.Peers = append(s.Peers, l)
		if len(s.Tracks) > 0 && i == 0 {
			pb, err := l.Client.Play(ctx, s.Tracks[0].ID)
			if err != nil {
				t.Fatalf("daemontest: peer play: %v", err)
			}
			_, err = io.Copy(io.Discard, pb)
			pb.Close()
			if err != nil {
				t.Fatalf("daemontest: peer play: %v", err)
			}
		}
	}

	s.Paths, err = daemon.DefaultPaths()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Login(ctx, s.Paths, c.TrackerURL, "listener", s.Password); err != nil {
		t.Fatalf("daemontest: login: %v", err)
	}
	s.Daemon = StartDaemon(t, s.Paths, s.OriginCA, o.Speed, log)
	s.URL, s.APIKey, s.LoginLink = s.Daemon.URL(), s.Daemon.APIKey(), s.Daemon.LoginLink()
	t.Cleanup(cancel)
	return s
}

// StartDaemon starts a daemon over existing directories (a restart) and
// waits until it is connected.
func StartDaemon(t testing.TB, p daemon.Paths, originCA string, speed float64, log *slog.Logger) *daemon.Daemon {
	t.Helper()
	cfg, _, err := daemon.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OriginCA = originCA
	cfg.Speed = speed
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{Paths: p, Config: cfg, API: ln, Logger: log, RetryEvery: 200 * time.Millisecond})
	if err != nil {
		ln.Close()
		t.Fatalf("daemontest: daemon: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon.Run: %v", err)
		}
	})
	if err := WaitConnected(d, time.Minute); err != nil {
		t.Fatal(err)
	}
	return d
}

// WaitConnected waits until the daemon has resumed its session and joined
// the swarm, watching its event stream.
func WaitConnected(d *daemon.Daemon, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL()+"/api/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", d.APIKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("daemontest: events: %w", err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var seen strings.Builder
	for {
		n, err := resp.Body.Read(buf)
		seen.Write(buf[:n])
		if strings.Contains(seen.String(), `"connected":true`) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("daemontest: the daemon did not connect within %v: %w; status events:\n%s", timeout, err, seen.String())
		}
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
