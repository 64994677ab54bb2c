package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/sim/cluster"
	"github.com/chorus-music/chorus/sim/shaper"
	"github.com/chorus-music/chorus/tracker"
)

// BenchmarkPressOfPlayShaped measures the start latency of a press of
// play through the daemon's API over shaped links (every node's and the
// origin's sends delayed, so each round trip is -rtt): for tracks shown
// first (POST /api/warm, 1 s before the press) and tracks never shown,
// next to the warm floor of one round trip. About a minute:
//
//	go test ./client/daemon -run '^$' -bench PressOfPlayShaped -benchtime 1x
func BenchmarkPressOfPlayShaped(b *testing.B) {
	const (
		rtt    = 40 * time.Millisecond
		tracks = 20
		peers  = 6
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	netDir := filepath.Join(dir, "net")
	if err := os.MkdirAll(netDir, 0o700); err != nil {
		b.Fatal(err)
	}
	c, err := cluster.Start(ctx, cluster.Options{
		Dir:    netDir,
		Argon2: tracker.Argon2Params{Time: 1, MemoryK: 64, Threads: 1},
		WrapOriginUDP: func(pc net.PacketConn) (net.PacketConn, error) {
			return shaper.Wrap(pc, shaper.Options{Delay: rtt, Precise: true})
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.AddUser(ctx, "bench", "bench-password"); err != nil {
		b.Fatal(err)
	}
	var ids []string
	for i := range tracks {
		p := filepath.Join(dir, fmt.Sprintf("Bench - Track %02d.wav", i))
		if err := samples.WriteFile(p, samples.Spec{Seconds: 10, SampleRate: 22050, Channels: 1, Seed: int64(200 + i)}); err != nil {
			b.Fatal(err)
		}
		ts, err := c.Ingest(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, ts[0].ID)
	}
	half := shaper.ListenUDP(shaper.Options{Delay: rtt / 2, Precise: true})
	for i := range peers {
		l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: fmt.Sprintf("p%d", i), User: "bench", Password: "bench-password",
			Swarm: true, Sched: sched.Config{Speed: 50}, ListenUDP: half})
		if err != nil {
			b.Fatal(err)
		}
		<-l.Node.Bootstrapped()
		for _, id := range ids {
			pb, err := l.Client.Play(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, pb); err != nil {
				b.Fatal(err)
			}
			pb.Close()
		}
	}
	p := daemon.Paths{Config: filepath.Join(dir, "you", "config"), Cache: filepath.Join(dir, "you", "cache")}
	if err := daemon.Login(ctx, p, c.TrackerURL, "bench", "bench-password"); err != nil {
		b.Fatal(err)
	}
	cfg, _, err := daemon.LoadConfig(p)
	if err != nil {
		b.Fatal(err)
	}
	cfg.OriginCA = filepath.Join(netDir, "tls", "origin-ca.pem")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{Paths: p, Config: cfg, API: ln, ListenUDP: half})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-d.Connected()
	a := api{t: nil, url: d.URL(), key: d.APIKey()}
	var shown, cold, shownPress, coldPress []float64
	b.ResetTimer()
	for i, id := range ids {
		if i%2 == 0 {
			benchPost(b, a, "/api/warm", fmt.Sprintf(`{"ids":[%q]}`, id))
			<-time.After(time.Second) // the listener reads the list
		}
		t0 := time.Now()
		st := benchPost(b, a, "/api/play", fmt.Sprintf(`{"id":%q}`, id))
		// What a player hears first: the first KiB of the audio URL.
		req, _ := http.NewRequest("GET", a.url+st.AudioURL, nil)
		req.Header.Set("Range", "bytes=0-1023")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		press := float64(time.Since(t0)) / float64(time.Millisecond)
		ms := waitStart(b, a, id)
		if i%2 == 0 {
			shown, shownPress = append(shown, ms), append(shownPress, press)
		} else {
			cold, coldPress = append(cold, ms), append(coldPress, press)
		}
	}
	slices.Sort(shownPress)
	slices.Sort(coldPress)
	slices.Sort(shown)
	slices.Sort(cold)
	floor := float64(rtt) / float64(time.Millisecond)
	b.Logf("press of play, RTT %v: shown first p50 %.1f ms (%.2fx one RTT), max %.1f; never shown p50 %.1f ms (%.2fx), max %.1f",
		rtt, shown[len(shown)/2], shown[len(shown)/2]/floor, shown[len(shown)-1], cold[len(cold)/2], cold[len(cold)/2]/floor, cold[len(cold)-1])
	b.Logf("POST /api/play to the first KiB of its audio URL: shown first p50 %.1f ms (%.2fx one RTT), never shown p50 %.1f ms (%.2fx)",
		shownPress[len(shownPress)/2], shownPress[len(shownPress)/2]/floor, coldPress[len(coldPress)/2], coldPress[len(coldPress)/2]/floor)
	b.ReportMetric(shownPress[len(shownPress)/2], "press-shown-p50-ms")
	b.ReportMetric(coldPress[len(coldPress)/2], "press-cold-p50-ms")
	b.ReportMetric(shown[len(shown)/2], "shown-p50-ms")
	b.ReportMetric(cold[len(cold)/2], "cold-p50-ms")
}

func benchPost(b *testing.B, a api, path, body string) daemon.Status {
	req, _ := http.NewRequest("POST", a.url+path, strings.NewReader(body))
	req.Header.Set("X-API-Key", a.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Fatalf("POST %s = %s", path, resp.Status)
	}
	var st daemon.Status
	data, _ := io.ReadAll(resp.Body)
	_ = jsonUnmarshal(data, &st)
	return st
}

// waitStart follows the events until the play of id reports its start.
func waitStart(b *testing.B, a api, id string) float64 {
	req, _ := http.NewRequest("GET", a.url+"/api/events", nil)
	req.Header.Set("X-API-Key", a.key)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	dec := newSSE(resp.Body)
	for {
		ev, data, err := dec.next()
		if err != nil {
			b.Fatalf("no start of %s: %v", id, err)
		}
		var st daemon.Status
		if ev != "status" || jsonUnmarshal(data, &st) != nil {
			continue
		}
		if st.Track != nil && st.Track.ID == id && st.Play.StartMS != nil {
			return *st.Play.StartMS
		}
	}
}
