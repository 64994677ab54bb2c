package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvServer names a server to use instead of starting a cluster.
const EnvServer = "CHORUS_TEST_POSTGRES"

// EnvBin names the directory holding initdb and postgres.
const EnvBin = "CHORUS_PG_BIN"

// ErrNoServer reports that no PostgreSQL server can be had: no binaries
// and no EnvServer.
var ErrNoServer = errors.New("pgtest: no PostgreSQL server")

// startTimeout bounds initdb plus the server's start.
const startTimeout = 60 * time.Second

// shared is the test binary's one cluster, started on first use. It is
// test-only state: this package is imported by tests alone.
var shared struct {
	mu      sync.Mutex // guards the fields below
	started bool
	c       *cluster
	err     error
	n       int // databases made, for unique names
}

// cluster is a running throwaway server.
type cluster struct {
	dir  string // data directory and socket directory
	base string // URL of its postgres database
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process has exited
	log  *bytes.Buffer // server's output, for failure messages
}

// Main runs the package's tests and then stops the cluster, if one was
// started. Call it from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the shared cluster, if one was started, and removes its
// directory. For a TestMain that does more than Main.
func Stop() {
	shared.mu.Lock()
	c := shared.c
	shared.c, shared.started = nil, false
	shared.mu.Unlock()
	if c != nil {
		c.stop()
	}
}

// Server returns the URL of the server's maintenance database (postgres),
// starting the shared cluster if needed. Without a server it skips t, or
// fails it under CI.
func Server(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvServer); u != "" {
		return u
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.started {
		shared.started = true
		shared.c, shared.err = start()
	}
	if shared.err != nil {
		if errors.Is(shared.err, ErrNoServer) && os.Getenv("CI") == "" {
			t.Skipf("%v (install Debian's postgresql package, or set %s to a server's URL)", shared.err, EnvServer)
		}
		t.Fatalf("%v", shared.err)
	}
	return shared.c.base
}

// New makes an empty database for t on the shared server and returns its
// connection URL. The database is dropped when t ends.
func New(t testing.TB) string {
	t.Helper()
	base := Server(t)
	shared.mu.Lock()
	shared.n++
	name := fmt.Sprintf("chorus_test_%d_%d", os.Getpid(), shared.n)
	shared.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", redact(base), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(base, name)
}

// withDatabase replaces the database in a connection URL.
func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// A keyword/value string: a later dbname wins.
		return base + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the server"
	}
	return u.Redacted()
}

// binDir finds the directory with initdb and postgres.
func binDir() (string, error) {
	if d := os.Getenv(EnvBin); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("%w: $%s=%s has no initdb", ErrNoServer, EnvBin, d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%w: no initdb under /usr/lib/postgresql/*/bin, on PATH or in $%s", ErrNoServer, EnvBin)
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// runAs returns the credentials to run the server with: none when we are
// not root, else the postgres user's.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and initdb refuses root; no unprivileged postgres user to run it as (useradd --system postgres): %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: postgres user has non-numeric ids %q/%q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// start makes and starts a cluster.
func start() (*cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "chorus-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	data := filepath.Join(dir, "data")
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: chown %s to postgres: %w", dir, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C.UTF-8")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	c := &cluster{dir: dir, done: make(chan struct{}), log: &bytes.Buffer{}}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB")
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	// Pdeathsig: the server goes with the test binary, even on a crash.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	go func() { c.cmd.Wait(); close(c.done) }() //nolint:errcheck // the exit is reported through done
	c.base = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
		RawQuery: url.Values{"host": {dir}, "sslmode": {"disable"}}.Encode()}).String()
	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitReady connects until the server answers, it exits or ctx ends.
func (c *cluster) waitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, c.base)
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("pgtest: postgres exited at start: %s", strings.TrimSpace(c.log.String()))
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres not ready after %v: %v; log: %s", startTimeout, err, c.log.String())
		case <-tick.C:
		}
	}
}

// stop shuts the server down fast and removes its directory.
func (c *cluster) stop() {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGQUIT) //nolint:errcheck // it may have exited
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill() //nolint:errcheck // last resort
			<-c.done
		}
	}
	os.RemoveAll(c.dir)
}
