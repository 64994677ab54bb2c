package client_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/internal/metricstest"
	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/sim/cluster"
	"github.com/chorus-music/chorus/tracker"
)

// cheapArgon2 keeps password hashing fast in tests.
var cheapArgon2 = tracker.Argon2Params{Time: 1, MemoryK: 64, Threads: 1}

func startCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{Dir: t.TempDir(), Argon2: cheapArgon2})
	if err != nil {
		t.Fatalf("cluster.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("cluster.Close: %v", err)
		}
	})
	if err := c.AddUser(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	return c
}

// TestPlayFormatsByteIdentical ingests a real WAV, Ogg Vorbis, MP3 (ID3)
// and FLAC file, finds each through tag search, and plays each from the
// origin over HTTP/3 and HTTP/2: the output must equal the source.
func TestPlayFormatsByteIdentical(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	files := []struct {
		name, search, title string
	}{
		{"Test Artist - Wave Title.wav", "wave", "Wave Title"},
		{"vorbis.ogg", "vorbis album", "Vorbis Title"},
		{"mpeg.mp3", "Mpeg Art", "Mpeg Title"},
		{"flac.flac", "flac", "Flac Title"},
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join("..", "catalog", "testdata", f.name))
	}
	if _, err := c.Ingest(ctx, paths...); err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	for _, proto := range []string{"auto", "h3", "h2"} {
		l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: "alice-" + proto, User: "alice", Password: "correct horse battery", OriginProto: proto})
		if err != nil {
			t.Fatalf("NewListener(%s): %v", proto, err)
		}
		for i, f := range files {
			res, err := l.Tracker.Search(ctx, f.search, 10)
			if err != nil {
				t.Fatalf("Search(%q): %v", f.search, err)
			}
			if len(res.Tracks) != 1 || res.Tracks[0].Title != f.title {
				t.Fatalf("Search(%q) = %+v; want one track titled %q", f.search, res.Tracks, f.title)
			}
			want, err := os.ReadFile(paths[i])
			if err != nil {
				t.Fatal(err)
			}
			pb, err := l.Client.Play(ctx, res.Tracks[0].ID)
			if err != nil {
				t.Fatalf("%s: Play(%s): %v", proto, f.name, err)
			}
			got, err := io.ReadAll(pb)
			if err != nil {
				t.Fatalf("%s: read %s: %v", proto, f.name, err)
			}
			stats := pb.Stats()
			pb.Close()
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: %s played %d bytes differing from the %d-byte source", proto, f.name, len(got), len(want))
			}
			if stats.BytesBySource[client.KindOrigin] != int64(len(want)) {
				t.Errorf("%s: %s origin bytes = %d; want %d", proto, f.name, stats.BytesBySource[client.KindOrigin], len(want))
			}
			if stats.StartLatencyMS <= 0 {
				t.Errorf("%s: %s start latency = %v ms; want > 0", proto, f.name, stats.StartLatencyMS)
			}
		}
	}
}

// TestPlaySeek seeks within a playing track and reads the right bytes.
func TestPlaySeek(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := filepath.Join("..", "catalog", "testdata", "flac.flac")
	tracks, err := c.Ingest(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(path)
	l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: "seeker", User: "alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := l.Client.Play(ctx, tracks[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	for _, off := range []int64{int64(len(want)) - 100, 40000, 0, 16384, 16383} {
		if _, err := pb.Seek(off, io.SeekStart); err != nil {
			t.Fatalf("Seek(%d): %v", off, err)
		}
		buf := make([]byte, 50)
		n, err := io.ReadFull(pb, buf)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if !bytes.Equal(buf[:n], want[off:off+int64(n)]) {
			t.Fatalf("bytes at %d differ from the source", off)
		}
	}
	if _, err := pb.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("Seek(-1) = nil error; want an error")
	}
}

// TestPlayFreshWithTrackerURLOnly: a fresh process without a saved
// session, that knows only the tracker's URL, plays with two tracker
// requests, side by side: the start, which logs in and brings the
// manifest, the key and the network list (its origins), and the keys it
// pins on first use. No login or network request of its own. A client
// whose Lookup started the player before the first play gets its origins
// all the same.
func TestPlayFreshWithTrackerURLOnly(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := filepath.Join("..", "catalog", "testdata", "flac.flac")
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.Ingest(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	hc := origin.NewHTTP3Client(c.OriginCA)
	defer origin.CloseClient(hc)
	for _, lookupFirst := range []bool{false, true} {
		ct := &countingTransport{}
		tr, err := client.NewTracker(client.TrackerOptions{URL: c.TrackerURL, HTTPClient: &http.Client{Transport: ct}})
		if err != nil {
			t.Fatal(err)
		}
		tr.LoginOnStart("alice", "correct horse battery")
		cl, err := client.New(client.Options{Tracker: tr, OriginsFromNetwork: func(ni protocol.NetworkInfo) ([]client.ChunkSource, error) {
			var out []client.ChunkSource
			for _, u := range ni.Origins {
				s, err := client.NewOriginSource(u, hc)
				if err != nil {
					return nil, err
				}
				out = append(out, s)
			}
			return out, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		if lookupFirst {
			if err := cl.Lookup(ts[0].ID); err != nil {
				t.Fatal(err)
			}
		}
		pb, err := cl.Play(ctx, ts[0].ID)
		if err != nil {
			t.Fatalf("Play (lookup first %v): %v", lookupFirst, err)
		}
		got, err := io.ReadAll(pb)
		stats := pb.Stats()
		pb.Close()
		cl.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("played %d bytes, %v; want the %d-byte source", len(got), err, len(want))
		}
		if stats.BytesBySource[client.KindOrigin] != int64(len(want)) {
			t.Errorf("origin bytes = %d; want %d", stats.BytesBySource[client.KindOrigin], len(want))
		}
		reqs := ct.take()
		slices.Sort(reqs)
		wantReqs := []string{"GET " + protocol.PathKeys, "POST " + strings.Replace(protocol.PathStart, "{id}", ts[0].ID, 1)}
		if !slices.Equal(reqs, wantReqs) {
			t.Errorf("tracker requests of a fresh play (lookup first %v) = %v; want %v", lookupFirst, reqs, wantReqs)
		}
	}
}

// originRequests reads the origin's request count for route from its
// /metrics.
func originRequests(t *testing.T, c *cluster.Cluster, hc *http.Client, route string) int {
	t.Helper()
	return int(metricstest.Sum(t, hc, c.OriginURL+"/metrics", "chorus_origin_requests_total", map[string]string{"route": route}))
}

// TestPrepareWarmsTheOrigin: showing a track (Prepare) opens the origin's
// connection before any play, so a first chunk does not pay the
// handshake; a second Prepare soon after does not open it again.
func TestPrepareWarmsTheOrigin(t *testing.T) {
	c := startCluster(t)
	id, _ := ingestSample(t, c, 2, 51)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: "browser", User: "alice", Password: alicePassword})
	if err != nil {
		t.Fatal(err)
	}
	hc := origin.NewHTTP3Client(c.OriginCA)
	defer origin.CloseClient(hc)
	before := originRequests(t, c, hc, "healthz")
	if err := l.Client.Prepare(ctx, id); err != nil {
		t.Fatal(err)
	}
	for originRequests(t, c, hc, "healthz") == before {
		if ctx.Err() != nil {
			t.Fatal("Prepare never opened the origin's connection")
		}
		runtime.Gosched()
	}
	if err := l.Client.Prepare(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := originRequests(t, c, hc, "healthz"); got != before+1 {
		t.Errorf("%d warm-ups after two Prepares in a row; want 1", got-before)
	}
}
