package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/node"
)

// syncRunner runs a player on the test's goroutine: posted functions and
// spawned work queue up in one FIFO, and drain runs them. Work spawned at
// one virtual time and drained after the clock advanced took that long.
type syncRunner struct {
	tasks   []func()
	watches []watched
	closed  bool
}

type watched struct {
	ch <-chan struct{}
	f  func()
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

func (r *syncRunner) watch(ch <-chan struct{}, f func()) {
	r.watches = append(r.watches, watched{ch, f})
}

// fire posts the functions of closed watched channels.
func (r *syncRunner) fire() {
	keep := r.watches[:0]
	var due []func()
	for _, w := range r.watches {
		select {
		case <-w.ch:
			due = append(due, w.f)
		default:
			keep = append(keep, w)
		}
	}
	r.watches = keep
	for _, f := range due {
		r.post(f)
	}
}

func (r *syncRunner) close(final func()) {
	if !r.closed {
		final()
		r.closed = true
	}
}

func (r *syncRunner) drain(t testing.TB) {
	t.Helper()
	for n := 0; ; n++ {
		r.fire()
		if len(r.tasks) == 0 {
			return
		}
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
	name    string
	chunks  map[cid.Cid][]byte
	down    bool
	downErr error // what a down origin answers; nil: a plain error
	served  int64
}

func (o *scriptOrigin) Name() string     { return o.name }
func (o *scriptOrigin) Kind() SourceKind { return KindOrigin }
func (o *scriptOrigin) Fetch(ctx context.Context, c cid.Cid) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.down {
		err := o.downErr
		if err == nil {
			err = fmt.Errorf("%s: connection refused", o.name)
		}
		return nil, &FetchError{Source: o.name, Reason: sched.FailGone, Err: err}
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
	hidden  map[peer.ID]bool    // holders the DHT does not find (yet)
	tracks  map[peer.ID]cid.Cid // if set, the one track each holder is found for
	lookErr error               // what lookups fail with, if set
	served  int64
	lookups []time.Time // when each lookup ran
	clk     clock.Clock
	grew    chan struct{} // closed at the next routing-table growth
}

var _ RoutingNotifier = (*scriptSwarm)(nil)

func (s *scriptSwarm) RoutingTableChanged() <-chan struct{} {
	if s.grew == nil {
		s.grew = make(chan struct{})
	}
	return s.grew
}

// grow is the routing table gaining a peer.
func (s *scriptSwarm) grow() {
	if s.grew == nil {
		s.grew = make(chan struct{})
	}
	close(s.grew)
	s.grew = make(chan struct{})
}

func (s *scriptSwarm) FindProviders(ctx context.Context, track cid.Cid, max int) ([]peer.AddrInfo, error) {
	if s.clk != nil {
		s.lookups = append(s.lookups, s.clk.Now())
	}
	if s.lookErr != nil {
		return nil, s.lookErr
	}
	var out []peer.AddrInfo
	for id := range s.holds {
		if s.hidden[id] || (s.tracks != nil && s.tracks[id] != track) {
			continue
		}
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
		return nil, fmt.Errorf("scripted: %w", node.ErrDontHave)
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

// playerRig is a player on a fake clock and a synchronous runner.
type playerRig struct {
	t   *testing.T
	clk *clock.Fake
	run *syncRunner
	pl  *player
}

func newRig(t *testing.T, src playerSources) *playerRig {
	t.Helper()
	return newRigLog(t, src, nil)
}

func newRigLog(t *testing.T, src playerSources, log *slog.Logger) *playerRig {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	run := &syncRunner{}
	pl, err := newPlayer(playerConfig{sched: sched.Config{Speed: 4}, clock: clk, log: log, giveUp: 5 * time.Second, maxProv: 20}, src, run)
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
// bytes they count are those of the chunks that arrived at pb (each once:
// the test does not seek back to a dropped chunk),
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
	for i, g := range pb.got {
		if g {
			held += int64(pb.m.Chunks[i].Size)
		}
	}
	pb.mu.Unlock()
	if counted != held {
		t.Errorf("statistics count %d bytes; %d arrived at the playback", counted, held)
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
	var logs bytes.Buffer
	r := newRigLog(t, playerSources{origins: []ChunkSource{o}, swarm: sw}, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	pb := r.start(a, 0)
	r.until(30*time.Second, "every chunk", pb.Done)
	if line := logs.String(); !strings.Contains(line, "level=WARN") || !strings.Contains(line, "peer="+bad.String()) || !strings.Contains(line, "corrupt") {
		t.Errorf("log = %q; want a WARN naming the corrupt peer %s", line, bad)
	}
	if st := r.pl.sched.Stats(); st.OriginRequests[sched.ReasonPeerFailed]+st.OriginRequests[sched.ReasonNoPeer] == 0 {
		t.Errorf("origin requests = %v; want the corrupt chunk fetched from the origin after the peer failed", st.OriginRequests)
	}
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

// TestPlayerPauseResumeHeard: through its Playback a play pauses (Position
// stands still and the play does not end), hears a position report, and
// resumes from there.
func TestPlayerPauseResumeHeard(t *testing.T) {
	a := makeTrack(t, 4, 20) // 20 s, 5 s at Speed 4
	o := &scriptOrigin{name: "origin https://o.test", chunks: a.cipher}
	r := newRig(t, playerSources{origins: []ChunkSource{o}})
	pb := r.start(a, 0)
	r.until(time.Second, "first chunk", func() bool { return pb.has(0) })
	r.until(time.Second, "playhead moving", func() bool { pos, ok := pb.Position(); return ok && pos > 0 })
	pb.Pause()
	stood, _ := pb.Position()
	for range 2000 { // 10 s in 5 ms steps
		r.clk.Advance(5 * time.Millisecond)
		r.run.drain(t)
	}
	if !pb.has(10) {
		t.Error("fetching stopped while paused; want the buffer filled (15 s of audio ahead from an origin)")
	}
	if pos, ok := pb.Position(); !ok || pos != stood {
		t.Errorf("Position() after 10 s paused = %d, %v; want %d, true", pos, ok, stood)
	}
	select {
	case <-pb.Ended():
		t.Fatal("a paused play ended")
	default:
	}
	if err := pb.Heard(40960); err != nil {
		t.Fatal(err)
	}
	if pos, _ := pb.Position(); pos != 40960 {
		t.Errorf("Position() after Heard(40960) = %d", pos)
	}
	if err := pb.Heard(-1); err == nil {
		t.Error("Heard(-1) accepted")
	}
	pb.Resume()
	r.clk.Advance(time.Second) // 4 s of audio at Speed 4: 16384 bytes
	r.run.drain(t)
	if pos, _ := pb.Position(); pos != 40960+16384 {
		t.Errorf("Position() 1 s after Resume = %d; want %d", pos, 40960+16384)
	}
	r.until(10*time.Second, "the end", func() bool {
		select {
		case <-pb.Ended():
			return true
		default:
			return false
		}
	})
	if st := pb.Stats(); st.Stalls != 0 || !st.Ended {
		t.Errorf("Stats() = %+v; want ended without stalls", st)
	}
}

// TestPlayerLookupRetries: the first lookup finds no one and the play
// runs from the origin; the routing table grows and the lookup is retried at
// once (still no one); the holder becomes findable and a retry on the
// scheduler's timer finds it while the play runs, and the peer serves.
func TestPlayerLookupRetries(t *testing.T) {
	a := makeTrack(t, 5, 120) // 2 min, 30 s at Speed 4
	o := &scriptOrigin{name: "origin https://o.test", chunks: a.cipher}
	holder := peer.ID("holder")
	sw := &scriptSwarm{holds: map[peer.ID]map[cid.Cid][]byte{holder: a.cipher}, hidden: map[peer.ID]bool{holder: true}}
	r := newRig(t, playerSources{origins: []ChunkSource{o}, swarm: sw})
	sw.clk = r.clk
	t0 := r.clk.Now()
	pb := r.start(a, 0)
	r.until(time.Second, "first chunk", func() bool { return pb.has(0) })
	if len(sw.lookups) != 1 {
		t.Fatalf("lookups at start: %v; want one", sw.lookups)
	}
	// Empty answers are retried at 0.5, 1, 2 s... after each.
	r.until(4*time.Second, "three retries", func() bool { return len(sw.lookups) >= 4 })
	if gaps := []time.Duration{sw.lookups[1].Sub(sw.lookups[0]), sw.lookups[2].Sub(sw.lookups[1]), sw.lookups[3].Sub(sw.lookups[2])}; gaps[0] < 500*time.Millisecond || gaps[0] > 510*time.Millisecond ||
		gaps[1] < time.Second || gaps[1] > 1010*time.Millisecond || gaps[2] < 2*time.Second || gaps[2] > 2010*time.Millisecond {
		t.Errorf("gaps between lookups %v; want 0.5, 1, 2 s", gaps)
	}
	// The routing table grows: a lookup at once.
	n := len(sw.lookups)
	sw.grow()
	grewAt := r.clk.Now()
	r.run.drain(t)
	if len(sw.lookups) != n+1 || !sw.lookups[n].Equal(grewAt) {
		t.Fatalf("lookups %v; want one more at %v, when the routing table grew", sw.lookups, grewAt.Sub(t0))
	}
	// The holder becomes findable; the next retry, 0.5 s later (the
	// backoff starts afresh after a growth), finds it.
	delete(sw.hidden, holder)
	r.until(600*time.Millisecond, "the holder found", func() bool { return sw.served > 0 })
	found := len(sw.lookups)
	r.until(20*time.Second, "every chunk", pb.Done)
	if len(sw.lookups) != found {
		t.Errorf("%d lookups after the holder was found; want none", len(sw.lookups)-found)
	}
	st := pb.Stats()
	if st.BytesBySource[KindPeer] == 0 {
		t.Errorf("Stats() = %+v; want bytes from the peer found while the play ran", st)
	}
	checkAgree(t, pb, r.pl.sched.Stats(), map[SourceKind]int64{KindOrigin: o.served, KindPeer: sw.served})
	// A failed lookup counts as an empty answer: it too is retried.
	b := makeTrack(t, 6, 10)
	sw.lookErr = errors.New("failed to find any peer in table")
	n = len(sw.lookups)
	if !r.pl.Lookup(b.t.id) {
		t.Fatal("Lookup refused")
	}
	r.run.drain(t)
	r.until(2*time.Second, "a retry of the failed lookup", func() bool { return len(sw.lookups) >= n+2 })
}

// TestPlayerGivesUpNamingTheCause: a play that cannot progress ends after
// the give-up time, on the scheduler's timer even with nothing in flight,
// with a *StuckError that wraps ErrNoSource and names the cause.
func TestPlayerGivesUpNamingTheCause(t *testing.T) {
	a := makeTrack(t, 7, 10)
	bad := peer.ID("bad-peer")
	unreach := classifyTransport(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, ErrOriginUnreachable)
	untrusted := classifyTransport(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, ErrOriginUnreachable)
	for _, tc := range []struct {
		name    string
		src     func() playerSources
		want    error
		message string
	}{
		{"nothing holds it", func() playerSources {
			return playerSources{swarm: &scriptSwarm{}}
		}, nil, "no peer holding the track was found"},
		{"origin unreachable", func() playerSources {
			return playerSources{origins: []ChunkSource{&scriptOrigin{name: "origin https://o.test", down: true, downErr: unreach}}}
		}, ErrOriginUnreachable, "connection refused"},
		{"certificate untrusted", func() playerSources {
			return playerSources{origins: []ChunkSource{&scriptOrigin{name: "origin https://o.test", down: true, downErr: untrusted}}}
		}, ErrUntrustedOrigin, "--origin-ca"},
		{"only source corrupt", func() playerSources {
			return playerSources{swarm: &scriptSwarm{
				holds:   map[peer.ID]map[cid.Cid][]byte{bad: a.cipher},
				corrupt: map[peer.ID]map[cid.Cid]bool{bad: {a.t.m.Chunks[0].CID: true}},
			}}
		}, ErrAllCorrupt, "banned: peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.src())
			start := r.clk.Now()
			pb := r.start(a, 0)
			r.until(10*time.Second, "the play's end", func() bool {
				pb.mu.Lock()
				defer pb.mu.Unlock()
				return pb.err != nil
			})
			if d := r.clk.Now().Sub(start); d < 5*time.Second || d > 5*time.Second+10*time.Millisecond {
				t.Errorf("gave up after %v; want the give-up time, 5 s", d)
			}
			if pb.Err() == nil {
				t.Error("Err() = nil after giving up")
			}
			_, err := io.ReadAll(pb)
			var se *StuckError
			if !errors.As(err, &se) || !errors.Is(err, ErrNoSource) {
				t.Fatalf("ReadAll = %v; want a *StuckError wrapping ErrNoSource", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("ReadAll = %v; want it to wrap %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("message %q does not say %q", err, tc.message)
			}
			if r.pl.cur != nil || r.pl.sched.Outstanding() != 0 {
				t.Error("the play that gave up is still current or has requests in flight")
			}
			if st := pb.Stats(); st.TrackID != a.t.id {
				t.Errorf("Stats() after giving up = %+v", st)
			}
		})
	}
}

// TestPlayerResumesWhenOriginReturns: the only origin goes down mid-play;
// the play drains its buffer and stalls; the origin comes back inside the
// give-up time and the play resumes within the origin's backoff cap, and
// ends.
func TestPlayerResumesWhenOriginReturns(t *testing.T) {
	a := makeTrack(t, 8, 60) // 60 s of audio, 15 s at Speed 4
	o := &scriptOrigin{name: "origin https://o.test", chunks: a.cipher}
	r := newRig(t, playerSources{origins: []ChunkSource{o}})
	pb := r.start(a, 0)
	r.until(time.Second, "first chunk", func() bool { return pb.has(0) })
	o.down = true
	r.until(10*time.Second, "a stall", func() bool { st, _ := r.pl.schedStats(pb); return st.Stalls > 0 })
	for range 200 { // stalled 1 s of the 5 s give-up time, the origin failing
		r.clk.Advance(5 * time.Millisecond)
		r.run.drain(t)
	}
	o.down = false
	back := r.clk.Now()
	held := countHeld(pb)
	r.until(3*time.Second, "a chunk after the origin came back", func() bool { return countHeld(pb) > held })
	if d := r.clk.Now().Sub(back); d > 2100*time.Millisecond {
		t.Errorf("first chunk %v after the origin came back; want within the 2 s backoff cap", d)
	}
	r.until(30*time.Second, "every chunk", pb.Done)
	if got, err := io.ReadAll(pb); err != nil || !bytes.Equal(got, a.plain) {
		t.Fatalf("ReadAll = %d bytes, %v; want the whole track", len(got), err)
	}
}

func countHeld(pb *Playback) int {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	n := 0
	for _, c := range pb.chunks {
		if c != nil {
			n++
		}
	}
	return n
}

// mapCache is an in-memory Cache.
type mapCache map[cid.Cid][]byte

func (c mapCache) Get(ctx context.Context, id cid.Cid) ([]byte, error) {
	if d, ok := c[id]; ok {
		return d, nil
	}
	return nil, ErrNotFound
}
func (c mapCache) Put(ctx context.Context, id cid.Cid, data []byte) error {
	c[id] = bytes.Clone(data)
	return nil
}
func (c mapCache) Has(id cid.Cid) bool { _, ok := c[id]; return ok }

// TestPlaybackKeepsBoundedWindow: a 5-minute play read as an audio output
// reads (up to Position) never holds more decrypted audio than the window:
// 10 s behind the read position and the 60 s buffer ahead. A seek back to a
// dropped chunk fetches it again, from the cache, with the right bytes.
func TestPlaybackKeepsBoundedWindow(t *testing.T) {
	a := makeTrack(t, 9, 300) // 300 s of audio, 1 s a chunk
	o := &scriptOrigin{name: "origin https://o.test", chunks: a.cipher}
	p := peer.ID("peer")
	sw := &scriptSwarm{holds: map[peer.ID]map[cid.Cid][]byte{p: a.cipher}}
	cache := mapCache{}
	r := newRig(t, playerSources{origins: []ChunkSource{o}, swarm: sw, cache: cache})
	pb := r.start(a, 0)
	w := pb.win
	if w.behind != 11 || w.ahead != 61 {
		t.Fatalf("window = %+v; want 11 chunks behind (10 s), 61 ahead (60 s)", w)
	}
	maxHeld := 0
	var read int64
	buf := make([]byte, 4096)
	for read < 200*4096 {
		r.clk.Advance(5 * time.Millisecond)
		r.run.drain(t)
		pos, _ := pb.Position()
		for read < pos && pb.has(int(read/4096)) {
			n, err := pb.Read(buf[:min(int64(len(buf)), pos-read)])
			if err != nil || !bytes.Equal(buf[:n], a.plain[read:read+int64(n)]) {
				t.Fatalf("Read at %d = %d, %v; want the track's bytes", read, n, err)
			}
			read += int64(n)
		}
		r.run.drain(t)
		if h := countHeld(pb); h > maxHeld {
			maxHeld = h
		}
		if r.clk.Now().Sub(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)) > 2*time.Minute {
			t.Fatalf("read only %d bytes in 2 minutes", read)
		}
	}
	if limit := w.behind + w.ahead + 1; maxHeld > limit {
		t.Errorf("held up to %d decrypted chunks; want at most %d (the window)", maxHeld, limit)
	}
	if maxHeld < 50 {
		t.Errorf("held at most %d chunks; want the buffer ahead filled (the test measures nothing otherwise)", maxHeld)
	}
	if pb.has(5) {
		t.Fatal("chunk 5 still held 195 chunks later")
	}
	cacheBefore := r.pl.sched.Stats().Bytes[KindCache]
	if _, err := pb.Seek(5*4096, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	r.until(time.Second, "chunk 5 again", func() bool { return pb.has(5) })
	if _, err := io.ReadFull(pb, buf); err != nil || !bytes.Equal(buf, a.plain[5*4096:6*4096]) {
		t.Fatalf("Read after the seek back = %v; want chunk 5's bytes", err)
	}
	if st := r.pl.sched.Stats(); st.Bytes[KindCache] <= cacheBefore {
		t.Errorf("cache bytes %d -> %d; want chunk 5 read again from the cache", cacheBefore, st.Bytes[KindCache])
	}
}

// TestPlayerForgetsPeersOfPastPlays: over many plays of different tracks,
// each held by its own peer, the player's per-source maps (sources,
// addresses, measurements) stay bounded: the scheduler's Forget prunes
// them, as it prunes its own.
func TestPlayerForgetsPeersOfPastPlays(t *testing.T) {
	sw := &scriptSwarm{holds: map[peer.ID]map[cid.Cid][]byte{}, tracks: map[peer.ID]cid.Cid{}}
	o := &scriptOrigin{name: "origin https://o.test", chunks: map[cid.Cid][]byte{}}
	r := newRig(t, playerSources{origins: []ChunkSource{o}, swarm: sw})
	const plays = 300
	most := 0
	for k := range plays {
		tt := makeTrack(t, uint64(100+k), 2)
		id := peer.ID(fmt.Sprintf("peer-%d", k))
		sw.holds[id], sw.tracks[id] = tt.cipher, tt.t.cid
		pb := r.start(tt, 0)
		r.until(5*time.Second, "the play's chunks", pb.Done)
		if err := pb.Close(); err != nil {
			t.Fatal(err)
		}
		r.run.drain(t)
		most = max(most, len(r.pl.sources), len(r.pl.addrs), len(r.pl.measured))
	}
	t.Logf("player maps: at most %d sources, %d at the end", most, len(r.pl.sources))
	if most > 66 { // the scheduler prunes once 64 tracks have holders: 64 peers and the origin
		t.Errorf("player maps held up to %d sources over %d plays with a peer each; want at most 66, pruned with the scheduler's", most, plays)
	}
	if len(r.pl.tracks) > 1 {
		t.Errorf("player keeps %d tracks after the plays; want at most the last", len(r.pl.tracks))
	}
	if _, ok := r.pl.sources["origin https://o.test"]; !ok {
		t.Error("the origin was forgotten")
	}
}

// TestPlayerReaderAheadFetchesOnce: a reader that drains every chunk the
// moment it arrives (io.Copy into a file) runs far ahead of the playhead;
// the chunks it leaves behind are still ahead of the playhead, so dropping
// them would make the scheduler fetch them again. Every chunk is fetched
// once, and the decrypted window stays bounded around reader and playhead.
func TestPlayerReaderAheadFetchesOnce(t *testing.T) {
	a := makeTrack(t, 7, 120) // 120 s of 1 s chunks at speed 4: 30 s of clock
	o := &scriptOrigin{name: "origin https://o.test", chunks: a.cipher}
	r := newRig(t, playerSources{origins: []ChunkSource{o}})
	pb := r.start(a, 0)
	var got []byte
	buf := make([]byte, 4096)
	r.until(time.Minute, "the whole track read", func() bool {
		for len(got) < len(a.plain) && pb.has(len(got)/4096) {
			n, err := pb.Read(buf)
			if err != nil {
				t.Fatalf("Read at %d: %v", len(got), err)
			}
			got = append(got, buf[:n]...)
		}
		r.run.drain(t)
		pb.mu.Lock()
		held := 0
		for _, c := range pb.chunks {
			if c != nil {
				held++
			}
		}
		pb.mu.Unlock()
		if max := len(a.plain)/4096 + 1; held > max {
			t.Fatalf("holds %d decrypted chunks; want at most %d", held, max)
		}
		return len(got) == len(a.plain)
	})
	if !bytes.Equal(got, a.plain) {
		t.Fatal("bytes read differ from the track")
	}
	var total int64
	for _, c := range a.cipher {
		total += int64(len(c))
	}
	if o.served != total {
		t.Errorf("origin served %d bytes for a %d-byte track; want each chunk once", o.served, total)
	}
}
