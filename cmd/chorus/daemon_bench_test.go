package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/chunkstore"
	"github.com/chorus-music/chorus/sim/cluster"
	"github.com/chorus-music/chorus/tracker"
)

// BenchmarkDaemon measures a `chorus daemon` process (the binary, so its
// figures are its own) in a swarm of 50 peers on loopback with a 1 GB
// cache: its idle footprint (RSS and CPU from its own /metrics, over 20 s
// with every peer connected), the same while it plays a track in real
// time, and the start latency of a press of play through the API, for
// tracks shown first (POST /api/warm, then play 1 s later) and for tracks
// never shown. Run it alone; it takes a few minutes:
//
//	go test ./cmd/chorus -run '^$' -bench BenchmarkDaemon -benchtime 1x -timeout 30m
func BenchmarkDaemon(b *testing.B) {
	const (
		peers      = 50
		tracks     = 10
		cacheBytes = 1 << 30
		window     = 20 * time.Second
	)
	bin := buildChorus(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	netDir := filepath.Join(dir, "net")
	if err := os.MkdirAll(netDir, 0o700); err != nil {
		b.Fatal(err)
	}
	c, err := cluster.Start(ctx, cluster.Options{Dir: netDir, Argon2: tracker.Argon2Params{Time: 1, MemoryK: 64, Threads: 1}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.AddUser(ctx, "bench", "bench-password"); err != nil {
		b.Fatal(err)
	}
	var paths []string
	for i := range tracks {
		p := filepath.Join(dir, fmt.Sprintf("Bench - Track %02d.wav", i))
		if err := samples.WriteFile(p, samples.Spec{Seconds: 10, Seed: int64(100 + i)}); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	ts, err := c.Ingest(ctx, paths...)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("swarm: tracker, origin, %d tracks of 10 s (44.1 kHz stereo WAV)", len(ts))
	var ls []*cluster.Listener
	for i := range peers {
		l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: fmt.Sprintf("p%02d", i), User: "bench", Password: "bench-password", Swarm: true, Sched: sched.Config{Speed: 50}})
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
	}
	for i, l := range ls {
		<-l.Node.Bootstrapped()
		if i < 2*tracks {
			// Two peers hold each track.
			pb, err := l.Client.Play(ctx, ts[i%tracks].ID)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			for {
				if _, err := pb.Read(buf); err != nil {
					break
				}
			}
			pb.Close()
		}
	}
	b.Logf("%d peers bootstrapped; each track held by 2", len(ls))

	// The daemon's directories, a 1 GB cache of 16 KiB chunks on disk.
	p := daemon.Paths{Config: filepath.Join(dir, "you", "config"), Cache: filepath.Join(dir, "you", "cache")}
	if err := fillCache(filepath.Join(p.Cache, "cache"), cacheBytes); err != nil {
		b.Fatal(err)
	}
	if err := daemon.Login(ctx, p, c.TrackerURL, "bench", "bench-password"); err != nil {
		b.Fatal(err)
	}
	port := freePort(b)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(bin, "daemon", "--config-dir", p.Config, "--cache-dir", p.Cache, "--api", fmt.Sprintf("127.0.0.1:%d", port),
		"--origin-ca", filepath.Join(netDir, "tls", "origin-ca.pem"), "--cache-bytes", strconv.Itoa(2*cacheBytes))
	cmd.Env = userEnv(filepath.Join(dir, "home"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitForLine(b, out, "try: chorus ctl", time.Minute)
	keyBytes, err := os.ReadFile(filepath.Join(p.Config, daemon.APIKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	key := strings.TrimSpace(string(keyBytes))
	st := statusEvents(b, base, key, "connected", 5*time.Minute, func(s daemon.Status) bool { return s.Connected })
	b.Logf("daemon connected %v after start; cache %d MB", time.Since(started).Round(time.Millisecond), st.Cache.UsedBytes>>20)
	ai := peer.AddrInfo{}
	if ai.ID, err = peer.Decode(st.Node.ID); err != nil {
		b.Fatal(err)
	}
	for _, a := range st.Node.Addrs {
		ma, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			b.Fatal(err)
		}
		ai.Addrs = append(ai.Addrs, ma)
	}
	for _, l := range ls {
		if err := l.Node.Connect(ctx, ai); err != nil {
			b.Fatalf("peer %s connect to the daemon: %v", l.Name, err)
		}
	}
	st = statusEvents(b, base, key, fmt.Sprintf("%d peers", peers), 2*time.Minute, func(s daemon.Status) bool { return s.Peers >= peers })

	idle := measure(b, base, key, window)
	b.Logf("idle, %d peers, %d MB cache: RSS %.1f MB, CPU %.2f%% of one core, heap in use %.1f MB, %d goroutines",
		st.Peers, st.Cache.UsedBytes>>20, idle.rssMB, idle.cpuPct, idle.heapMB, idle.goroutines)
	b.ReportMetric(idle.rssMB, "idle-RSS-MB")
	b.ReportMetric(idle.cpuPct, "idle-CPU-%")

	// Press-of-play latency: half the tracks shown first, half never.
	var shown, cold []float64
	for i, t := range ts {
		if i%2 == 0 {
			post(b, base, key, "/api/warm", fmt.Sprintf(`{"ids":[%q]}`, t.ID))
			<-time.After(time.Second) // the listener reads the list
		}
		post(b, base, key, "/api/play", fmt.Sprintf(`{"id":%q}`, t.ID))
		st := statusEvents(b, base, key, "started", time.Minute, func(s daemon.Status) bool {
			return s.Track != nil && s.Track.ID == t.ID && s.Play.StartMS != nil
		})
		if i%2 == 0 {
			shown = append(shown, *st.Play.StartMS)
		} else {
			cold = append(cold, *st.Play.StartMS)
		}
	}
	slices.Sort(shown)
	slices.Sort(cold)
	b.Logf("press of play to first audio, shown first (%d): p50 %.1f ms, max %.1f ms; never shown (%d): p50 %.1f ms, max %.1f ms",
		len(shown), shown[len(shown)/2], shown[len(shown)-1], len(cold), cold[len(cold)/2], cold[len(cold)-1])
	b.ReportMetric(shown[len(shown)/2], "start-shown-p50-ms")
	b.ReportMetric(cold[len(cold)/2], "start-cold-p50-ms")

	// Playing: the last track plays in real time through the window.
	post(b, base, key, "/api/play", fmt.Sprintf(`{"id":%q}`, ts[0].ID))
	playing := measure(b, base, key, 10*time.Second)
	b.Logf("playing: RSS %.1f MB, CPU %.2f%% of one core", playing.rssMB, playing.cpuPct)
	b.ReportMetric(playing.rssMB, "playing-RSS-MB")
	b.ReportMetric(playing.cpuPct, "playing-CPU-%")
}

// fillCache writes n bytes of random 16 KiB chunks, named by their CIDs,
// in the cache's on-disk layout (without the cache's per-chunk fsync).
func fillCache(dir string, n int64) error {
	ds, err := chunkstore.Open(chunkstore.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	buf := make([]byte, catalog.ChunkSize)
	for written := int64(0); written < n; written += int64(len(buf)) {
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		path := ds.Path(catalog.ChunkCID(buf))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type footprint struct {
	rssMB, cpuPct, heapMB float64
	goroutines            int
}

// measure reads the daemon's process metrics at the start and the end of
// a window.
func measure(tb testing.TB, base, key string, window time.Duration) footprint {
	tb.Helper()
	m0 := scrape(tb, base, key)
	t0 := time.Now()
	<-time.After(window) // the measurement window
	m1 := scrape(tb, base, key)
	secs := time.Since(t0).Seconds()
	return footprint{
		rssMB:      m1["process_resident_memory_bytes"] / (1 << 20),
		cpuPct:     100 * (m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]) / secs,
		heapMB:     m1["go_memstats_heap_inuse_bytes"] / (1 << 20),
		goroutines: int(m1["go_goroutines"]),
	}
}

func scrape(tb testing.TB, base, key string) map[string]float64 {
	tb.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

func post(tb testing.TB, base, key, path, body string) {
	tb.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		tb.Fatalf("POST %s %s = %s", path, body, resp.Status)
	}
}
