package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/sim/cluster"
	"github.com/chorus-music/chorus/sim/fault"
)

const alicePassword = "correct horse battery"

// ingestSample writes a generated WAV of the given length and ingests it;
// it returns the track ID and the source bytes.
func ingestSample(t *testing.T, c *cluster.Cluster, seconds float64, seed int64) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("Swarm Test - Track %d.wav", seed))
	if err := samples.WriteFile(path, samples.Spec{Seconds: seconds, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	tracks, err := c.Ingest(context.Background(), path)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	src, _ := os.ReadFile(path)
	return tracks[0].ID, src
}

func swarmListener(t *testing.T, c *cluster.Cluster, name string, o cluster.ListenerOptions) *cluster.Listener {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o.Name, o.User, o.Password, o.Swarm = name, "alice", alicePassword, true
	if o.Sched.Speed == 0 {
		// Twice real time: about 350 KB/s of WAV per listener, well within
		// what loopback peers serve even under -race on a busy machine.
		o.Sched.Speed = 2
	}
	l, err := c.NewListener(ctx, o)
	if err != nil {
		t.Fatalf("NewListener(%s): %v", name, err)
	}
	select {
	case <-l.Node.Bootstrapped():
	case <-ctx.Done():
		t.Fatalf("%s: DHT bootstrap did not finish", name)
	}
	return l
}

// playWhole plays a track to the end and returns the bytes and stats.
func playWhole(t *testing.T, l *cluster.Listener, id string) ([]byte, client.PlayStats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pb, err := l.Client.Play(ctx, id)
	if err != nil {
		return nil, client.PlayStats{}, err
	}
	defer pb.Close()
	got, err := io.ReadAll(pb)
	return got, pb.Stats(), err
}

// seedTrack has l play the track (from the origin) and announce it.
func seedTrack(t *testing.T, l *cluster.Listener, id string, want []byte) {
	t.Helper()
	got, _, err := playWhole(t, l, id)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: seeding play: err %v, %d bytes; want %d", l.Name, err, len(got), len(want))
	}
	track, _ := cid.Decode(id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Node.Provide(ctx, track); err != nil {
		t.Fatalf("%s: Provide: %v", l.Name, err)
	}
}

// TestSwarmPeersServeMostBytes: node 1 plays a 200+ chunk track from the
// origin; nodes 2 to 5 then play it together, finding holders only through
// the DHT, and each takes at least 80% of its bytes from peers.
func TestSwarmPeersServeMostBytes(t *testing.T) {
	c := startCluster(t)
	id, want := ingestSample(t, c, 20, 11)
	if n := len(want) / (16 << 10); n < 200 {
		t.Fatalf("sample has %d chunks; want at least 200", n)
	}
	l1 := swarmListener(t, c, "node1", cluster.ListenerOptions{})
	var ls []*cluster.Listener
	for i := 2; i <= 5; i++ {
		ls = append(ls, swarmListener(t, c, fmt.Sprintf("node%d", i), cluster.ListenerOptions{}))
	}
	seedTrack(t, l1, id, want)
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, stats, err := playWhole(t, l, id)
			if err != nil {
				t.Errorf("%s: play: %v", l.Name, err)
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: output differs from the source", l.Name)
			}
			t.Logf("%s: %+v", l.Name, stats)
			peer := stats.BytesBySource[client.KindPeer]
			if frac := float64(peer) / float64(len(want)); frac < 0.8 {
				t.Errorf("%s: %.1f%% of bytes from peers (%+v); want at least 80%%", l.Name, 100*frac, stats)
			}
		}()
	}
	wg.Wait()
}

// TestSwarmCorruptAndStallingPeers: a peer serving corrupt chunks is caught
// by the CID check and not asked again; a stalling peer does not stop the
// play; the output is correct.
func TestSwarmCorruptAndStallingPeers(t *testing.T) {
	c := startCluster(t)
	id, want := ingestSample(t, c, 12, 12)
	good := swarmListener(t, c, "good", cluster.ListenerOptions{})
	bad := swarmListener(t, c, "corrupter", cluster.ListenerOptions{ServeStream: fault.Corrupt})
	slow := swarmListener(t, c, "staller", cluster.ListenerOptions{ServeStream: fault.Stall})
	for _, l := range []*cluster.Listener{good, bad, slow} {
		seedTrack(t, l, id, want)
	}
	x := swarmListener(t, c, "listener", cluster.ListenerOptions{})
	// The corrupter also served the other seeders; count only this play.
	servedBefore := cluster.CounterSum(bad.Metrics, "chorus_node_requests_served_total")
	got, stats, err := playWhole(t, x, id)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("output differs from the source")
	}
	if stats.Rejected == 0 {
		t.Errorf("no chunk was rejected (%+v); want the corrupter caught by the CID check", stats)
	}
	// The corrupter is banned for the play; the staller is only backed
	// off (its requests time out or lose the hedge), and the play goes on.
	if banned := strings.Join(stats.Banned, " "); !strings.Contains(banned, bad.Node.ID().String()) {
		t.Errorf("corrupter %s not banned; banned = %v", bad.Node.ID(), stats.Banned)
	}
	// Asked at most once per request in flight when it was caught (the
	// scheduler keeps at most 4 at one peer): far fewer than its share of
	// the track's chunks.
	served := cluster.CounterSum(bad.Metrics, "chorus_node_requests_served_total") - servedBefore
	if chunks := len(want) / (16 << 10); served > 8 || served >= float64(chunks)/3 {
		t.Errorf("corrupter served %v requests during the play; want it not asked again after the first bad chunk", served)
	}
}

// TestSwarmWithoutOrigin: with the origin stopped, a track held by peers
// plays; a track no peer holds still plays from the origin while it runs.
func TestSwarmWithoutOrigin(t *testing.T) {
	c := startCluster(t)
	held, wantHeld := ingestSample(t, c, 6, 21)
	fresh, wantFresh := ingestSample(t, c, 6, 22)
	l1 := swarmListener(t, c, "holder", cluster.ListenerOptions{})
	l2 := swarmListener(t, c, "newcomer", cluster.ListenerOptions{})
	seedTrack(t, l1, held, wantHeld)

	got, stats, err := playWhole(t, l2, fresh)
	if err != nil || !bytes.Equal(got, wantFresh) {
		t.Fatalf("play of an unheld track: err %v, equal %v", err, bytes.Equal(got, wantFresh))
	}
	if o := stats.BytesBySource[client.KindOrigin]; o != int64(len(wantFresh)) {
		t.Errorf("unheld track: %d bytes from the origin; want all %d", o, len(wantFresh))
	}

	if err := c.StopOrigin(); err != nil {
		t.Fatalf("StopOrigin: %v", err)
	}
	got, stats, err = playWhole(t, l2, held)
	if err != nil || !bytes.Equal(got, wantHeld) {
		t.Fatalf("play with the origin stopped: err %v, equal %v", err, bytes.Equal(got, wantHeld))
	}
	if p := stats.BytesBySource[client.KindPeer]; p != int64(len(wantHeld)) {
		t.Errorf("origin stopped: %d bytes from peers; want all %d (%+v)", p, len(wantHeld), stats)
	}
}

// TestQueuePrefetchesNextTrack: while one track plays, the queued next
// track's first chunks are fetched, so when it plays they are already here.
func TestQueuePrefetchesNextTrack(t *testing.T) {
	c := startCluster(t)
	first, wantFirst := ingestSample(t, c, 4, 31)
	next, wantNext := ingestSample(t, c, 12, 32)
	l := swarmListener(t, c, "queuer", cluster.ListenerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pb, err := l.Client.Play(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Client.Queue(ctx, next); err != nil {
		t.Fatalf("Queue: %v", err)
	}
	got, err := io.ReadAll(pb)
	if err != nil || !bytes.Equal(got, wantFirst) {
		t.Fatalf("first track: err %v, equal %v", err, bytes.Equal(got, wantFirst))
	}
	// Let the first track play to its end on the playback clock, as a
	// listener would, before the next one starts.
	select {
	case <-pb.Ended():
	case <-ctx.Done():
		t.Fatalf("first track never ended: %+v", pb.Stats())
	}
	pb.Close()
	pb2, err := l.Client.Play(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	defer pb2.Close()
	got, err = io.ReadAll(pb2)
	if err != nil || !bytes.Equal(got, wantNext) {
		t.Fatalf("next track: err %v, equal %v", err, bytes.Equal(got, wantNext))
	}
	// Its start needed no request: the first chunk was prefetched (from
	// the origin, no peer holding the track), so the start is the time to
	// hand it over.
	st := pb2.Stats()
	if st.OriginRequests["first-chunk race"] != 0 || st.OriginRequests["prefetch next track"] == 0 {
		t.Errorf("next track's origin requests = %v; want prefetches and no first-chunk race", st.OriginRequests)
	}
	if st.BytesBySource[client.KindOrigin] != int64(len(wantNext)) {
		t.Errorf("next track: %d bytes counted from the origin; want all %d, prefetched ones included", st.BytesBySource[client.KindOrigin], len(wantNext))
	}
}

// TestPlayFailsWhenNoSourceCan: with the origin stopped and no peer holding
// the track, the play ends with ErrNoSource instead of hanging.
func TestPlayFailsWhenNoSourceCan(t *testing.T) {
	c := startCluster(t)
	id, _ := ingestSample(t, c, 4, 41)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := c.NewListener(ctx, cluster.ListenerOptions{Name: "stranded", User: "alice", Password: alicePassword, GiveUpAfter: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Client.Prepare(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.StopOrigin(); err != nil {
		t.Fatal(err)
	}
	pb, err := l.Client.Play(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	if _, err := io.ReadAll(pb); !errors.Is(err, client.ErrNoSource) {
		t.Fatalf("ReadAll = %v; want ErrNoSource", err)
	}
}
