package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
)

// syncRunner runs a player on the test's goroutine: posted functions and
// spawned work queue up in one FIFO, and drain runs them. Work spawned at
// one virtual time and drained after the clock advanced took that long.
type syncRunner struct {
	tasks  []func()
	closed bool
}

func (r *syncRunner) post(f func()) bool {
	if r.closed {
		return false
	}
	r.tasks = append(r.tasks, f)
	return true
}

func (r *syncRunner) call(f func()) bool {
	if r.closed {
		return false
	}
	f()
	return true
}

func (r *syncRunner) spawn(f func()) { r.tasks = append(r.tasks, f) }

func (r *syncRunner) close(final func()) {
	if !r.closed {
		final()
		r.closed = true
	}
}

func (r *syncRunner) drain(t *testing.T) {
	t.Helper()
	for n := 0; len(r.tasks) > 0; n++ {
		if n > 100_000 {
			t.Fatal("player keeps posting work")
		}
		f := r.tasks[0]
		r.tasks = r.tasks[1:]
		f()
	}
}

// testTrack is a track encrypted in memory: its manifest, key, plaintext
// and ciphertext chunks by CID.
type testTrack struct {
	t      track
	plain  []byte
	cipher map[cid.Cid][]byte
}

// makeTrack builds a track of n chunks of 4 KiB lasting 1 s each.
func makeTrack(t *testing.T, seed uint64, n int) testTrack {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	key, err := catalog.NewTrackKey(readerFunc(func(p []byte) (int, error) {
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return len(p), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	const size = 4096
	plain := make([]byte, n*size)
	for i := range plain {
		plain[i] = byte(rng.Uint32())
	}
	m := &catalog.Manifest{Version: catalog.ManifestVersion, ContentType: "audio/wav", Title: fmt.Sprintf("track %d", seed),
		ByteLength: int64(len(plain)), DurationMS: int64(n) * 1000, ChunkSize: size}
	tt := testTrack{plain: plain, cipher: map[cid.Cid][]byte{}}
	for i := range n {
		c := bytes.Clone(plain[i*size : (i+1)*size])
		if err := key.XORChunk(int64(i*size), c); err != nil {
			t.Fatal(err)
		}
		id := catalog.ChunkCID(c)
		tt.cipher[id] = c
		m.Chunks = append(m.Chunks, catalog.Chunk{CID: id, Size: size})
	}
	canonical, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tc := catalog.ManifestID(canonical)
	tt.t = track{id: tc.String(), cid: tc, m: m, key: key}
	return tt
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// scriptOrigin is an origin that serves every chunk it holds and counts
// the bytes of the answers it gave to requests still wanted.
type scriptOrigin struct {
	name   string
	chunks map[cid.Cid][]byte
	down   bool
	served int64
}

func (o *scriptOrigin) Name() string     { return o.name }
func (o *scriptOrigin) Kind() SourceKind { return KindOrigin }
func (o *scriptOrigin) Fetch(ctx context.Context, c cid.Cid) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.down {
		return nil, &FetchError{Source: o.name, Reason: sched.FailGone, Err: fmt.Errorf("%s: connection refused", o.name)}
	}
	data, ok := o.chunks[c]
	if !ok {
		return nil, &FetchError{Source: o.name, Reason: sched.FailDontHave, Err: ErrNotFound}
	}
	o.served += int64(len(data))
	return data, nil
}

// scriptSwarm is a swarm of scripted peers: each holds the chunks in
// holds, and corrupt makes a peer send garbage for a chunk.
type scriptSwarm struct {
	holds   map[peer.ID]map[cid.Cid][]byte
	corrupt map[peer.ID]map[cid.Cid]bool
	served  int64
	lookups int
}

func (s *scriptSwarm) FindProviders(ctx context.Context, track cid.Cid, max int) ([]peer.AddrInfo, error) {
	s.lookups++
	var out []peer.AddrInfo
	for id := range s.holds {
		out = append(out, peer.AddrInfo{ID: id})
	}
	slices.SortFunc(out, func(a, b peer.AddrInfo) int { return bytes.Compare([]byte(a.ID), []byte(b.ID)) })
	return out, nil
}
func (s *scriptSwarm) ConnectedPeers() []peer.ID { return nil }
func (s *scriptSwarm) Connect(ctx context.Context, ai peer.AddrInfo) error {
	return ctx.Err()
}
func (s *scriptSwarm) Fetch(ctx context.Context, p peer.ID, c cid.Cid) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, ok := s.holds[p][c]
	if !ok {
		return nil, fmt.Errorf("scripted: %w", errDontHaveForTest)
	}
	if s.corrupt[p][c] {
		bad := bytes.Clone(data)
		bad[0] ^= 0xff
		return bad, nil // a swarm that does not verify: the player must
	}
	s.served += int64(len(data))
	return data, nil
}
func (s *scriptSwarm) Provide(ctx context.Context, track cid.Cid) error { return nil }
func (s *scriptSwarm) Latency(p peer.ID) time.Duration                  { return 0 }

var errDontHaveForTest = fmt.Errorf("does not have it")

// playerRig is a player on a fake clock and a synchronous runner.
type playerRig struct {
	t   *testing.T
	clk *clock.Fake
	run *syncRunner
	pl  *player
}

func newRig(t *testing.T, src playerSources) *playerRig {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	run := &syncRunner{}
	pl, err := newPlayer(playerConfig{sched: sched.Config{Speed: 4}, clock: clk, giveUp: 5 * time.Second, maxProv: 20}, src, run)
	if err != nil {
		t.Fatal(err)
	}
	return &playerRig{t: t, clk: clk, run: run, pl: pl}
}

// start plays tt from offset.
func (r *playerRig) start(tt testTrack, offset int64) *Playback {
	r.t.Helper()
	pb := newPlayback(tt.t.m, r.clk, r.clk.Now(), offset, PlayStats{TrackID: tt.t.id}, r.pl)
	if !r.pl.Start(pb, tt.t, offset) {
		r.t.Fatal("Start refused")
	}
	r.run.drain(r.t)
	return pb
}

// until advances the clock in 5 ms steps, running the player after each,
// until cond holds; it fails after limit of virtual time.
func (r *playerRig) until(limit time.Duration, what string, cond func() bool) {
	r.t.Helper()
	for end := r.clk.Now().Add(limit); !cond(); {
		if !r.clk.Now().Before(end) {
			r.t.Fatalf("no %s within %v", what, limit)
		}
		r.clk.Advance(5 * time.Millisecond)
		r.run.drain(r.t)
	}
}

func (pb *Playback) has(i int) bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.chunks[i] != nil
}

// checkAgree checks that pb's statistics are the scheduler's, that the
// bytes they count are those of the chunks pb holds (each counted once),
// and that no source kind is credited with more than it served.
func checkAgree(t *testing.T, pb *Playback, st sched.Stats, served map[SourceKind]int64) {
	t.Helper()
	ps := pb.Stats()
	var counted int64
	for k := range 3 {
		kind := SourceKind(k)
		counted += st.Bytes[kind]
		if ps.BytesBySource[kind] != st.Bytes[kind] {
			t.Errorf("BytesBySource[%v] = %d; scheduler counts %d", kind, ps.BytesBySource[kind], st.Bytes[kind])
		}
		if st.Bytes[kind] > served[kind] {
			t.Errorf("statistics count %d bytes from %v sources; they served %d", st.Bytes[kind], kind, served[kind])
		}
	}
	var held int64
	pb.mu.Lock()
	for _, c := range pb.chunks {
		held += int64(len(c))
	}
	pb.mu.Unlock()
	if counted != held {
		t.Errorf("statistics count %d bytes; the playback holds %d", counted, held)
	}
	for r := range sched.ReasonResend + 1 {
		if ps.OriginRequests[r.String()] != st.OriginRequests[r] {
			t.Errorf("OriginRequests[%q] = %d; scheduler counts %d", r, ps.OriginRequests[r.String()], st.OriginRequests[r])
		}
	}
	if ps.Errors != st.Failures || ps.Stalls != st.Stalls || ps.Ended != st.Ended || ps.Cancelled != st.Cancels || ps.WastedBytes != st.WastedBytes {
		t.Errorf("Stats() = %+v; scheduler says %+v", ps, st)
	}
}

// TestPlayerStartSeekQueueStop drives the player itself, with scripted
// sources, on a fake clock and without goroutines: a start, a seek, a
// queued next track that is prefetched and then played, and a stop, with
// statistics that agree with the scheduler's and with what the sources
// served.
func TestPlayerStartSeekQueueStop(t *testing.T) {
	a, b := makeTrack(t, 1, 30), makeTrack(t, 2, 12)
	o := &scriptOrigin{name: "origin https://o.test", chunks: map[cid.Cid][]byte{}}
	for _, tt := range []testTrack{a, b} {
		for c, d := range tt.cipher {
			o.chunks[c] = d
		}
	}
	r := newRig(t, playerSources{origins: []ChunkSource{o}})

	// Start: the first chunk arrives from the origin, and the playhead
	// moves.
	pb := r.start(a, 0)
	r.until(time.Second, "first chunk", func() bool { return pb.has(0) })
	if pos, ok := pb.Position(); !ok || pos < 0 {
		t.Fatalf("Position() = %d, %v after the first chunk; want started", pos, ok)
	}
	if _, ok := r.pl.sources["origin https://o.test"]; !ok {
		t.Errorf("sources = %v; want the origin under its own name, once", keys(r.pl.sources))
	}

	// Seek: the chunk under the new position comes next, and reads there
	// give the track's bytes.
	seekTo := int64(20 * 4096)
	if _, err := pb.Seek(seekTo, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	r.run.drain(t)
	r.until(time.Second, "chunk under the seek", func() bool { return pb.has(20) })
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(pb, buf); err != nil || !bytes.Equal(buf, a.plain[seekTo:seekTo+4096]) {
		t.Fatalf("Read after Seek = %v, bytes equal %v; want the track's bytes at %d", err, bytes.Equal(buf, a.plain[seekTo:seekTo+4096]), seekTo)
	}
	if st := r.pl.sched.Stats(); st.Seeks != 1 {
		t.Errorf("scheduler saw %d seeks; want 1", st.Seeks)
	}

	// Queue b: it is prefetched before a ends, then plays from what the
	// prefetch brought.
	if !r.pl.Queue([]track{b.t}) {
		t.Fatal("Queue refused")
	}
	r.until(20*time.Second, "end of the first track", func() bool {
		select {
		case <-pb.Ended():
			return true
		default:
			return false
		}
	})
	stA := r.pl.sched.Stats()
	if !stA.Ended {
		t.Fatalf("first track's stats = %+v; want ended", stA)
	}
	checkAgree(t, pb, stA, map[SourceKind]int64{KindOrigin: o.served})
	if err := pb.Close(); err != nil {
		t.Fatal(err)
	}
	if got := pb.Stats(); !got.Ended || got.BytesBySource[KindOrigin] != stA.Bytes[KindOrigin] {
		t.Errorf("closed playback's Stats() = %+v; want the final figures %+v", got, stA)
	}
	prefetched := 0
	for i := range b.t.m.Chunks {
		if ts := r.pl.tracks[b.t.id]; ts != nil && ts.chunks != nil && ts.chunks[i] != nil {
			prefetched++
		}
	}
	if prefetched == 0 {
		t.Fatal("nothing of the queued track was prefetched before the first ended")
	}
	pb2 := r.start(b, 0)
	if !pb2.has(0) {
		t.Fatal("the queued track's first chunk, prefetched, was not handed over")
	}
	r.until(10*time.Second, "every chunk of the queued track", pb2.Done)
	stB := r.pl.sched.Stats()
	if stB.OriginRequests[sched.ReasonPrefetch] == 0 || stB.OriginRequests[sched.ReasonRace] != 0 {
		t.Errorf("queued track's origin requests = %v; want prefetches and no first-chunk race", stB.OriginRequests)
	}
	if stB.Bytes[KindOrigin] != int64(len(b.plain)) {
		t.Errorf("queued track: %d origin bytes counted; want all %d, prefetched ones included", stB.Bytes[KindOrigin], len(b.plain))
	}
	checkAgree(t, pb2, stB, map[SourceKind]int64{KindOrigin: o.served})
	got, err := io.ReadAll(pb2)
	if err != nil || !bytes.Equal(got, b.plain) {
		t.Fatalf("ReadAll(second play) = %d bytes, %v; want the track's %d bytes", len(got), err, len(b.plain))
	}

	// Stop: nothing stays in flight, and the Playback no longer plays.
	if err := pb2.Close(); err != nil {
		t.Fatal(err)
	}
	r.run.drain(t)
	if n := r.pl.sched.Outstanding(); n != 0 || len(r.pl.reqs) != 0 {
		t.Errorf("after Close: %d requests at the scheduler, %d at the player; want none", n, len(r.pl.reqs))
	}
	if _, ok := pb2.Position(); ok {
		t.Error("Position() reports a closed play as playing")
	}
	if r.pl.cur != nil {
		t.Error("the player still has a current play after Close")
	}
	r.pl.close()
	if r.pl.Start(newPlayback(a.t.m, r.clk, r.clk.Now(), 0, PlayStats{}, r.pl), a.t, 0) {
		t.Error("Start after close succeeded")
	}
}

func keys[V any](m map[sched.SourceID]V) []sched.SourceID {
	var out []sched.SourceID
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPlayerBansCorruptPeer: the only peer sends a corrupt chunk; the
// player classifies it, bans the peer (Rejected, Banned), and the chunk
// comes from the origin instead; the rest of the statistics agree with the
// scheduler's.
func TestPlayerBansCorruptPeer(t *testing.T) {
	a := makeTrack(t, 3, 10)
	o := &scriptOrigin{name: "origin https://o.test", chunks: a.cipher}
	bad := peer.ID("bad-peer")
	// Corrupt from chunk 9 on: the origin's first flights carry the early
	// chunks; the peer, found later, serves the late ones.
	rotten := map[cid.Cid]bool{}
	for _, ch := range a.t.m.Chunks[9:] {
		rotten[ch.CID] = true
	}
	sw := &scriptSwarm{
		holds:   map[peer.ID]map[cid.Cid][]byte{bad: a.cipher},
		corrupt: map[peer.ID]map[cid.Cid]bool{bad: rotten},
	}
	r := newRig(t, playerSources{origins: []ChunkSource{o}, swarm: sw})
	pb := r.start(a, 0)
	r.until(30*time.Second, "every chunk", pb.Done)
	got, err := io.ReadAll(pb)
	if err != nil || !bytes.Equal(got, a.plain) {
		t.Fatalf("ReadAll = %d bytes, %v; want the track's %d bytes", len(got), err, len(a.plain))
	}
	ps := pb.Stats()
	name := NewPeerSource(sw, bad).Name()
	if ps.Rejected != 1 || !slices.Equal(ps.Banned, []string{name}) {
		t.Errorf("Rejected, Banned = %d, %v; want 1, [%s]", ps.Rejected, ps.Banned, name)
	}
	st := r.pl.sched.Stats()
	if st.Bytes[KindPeer] == 0 {
		t.Errorf("no bytes from the peer before it went bad: %+v", st)
	}
	checkAgree(t, pb, st, map[SourceKind]int64{KindOrigin: o.served, KindPeer: sw.served})
}
