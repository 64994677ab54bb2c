package sched_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/client/sched/schedtest"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const chunk = 16 << 10

// track returns a track of n full chunks at 160 kbit/s (0.8192 s of audio
// per chunk).
func track(id string, n int) sched.TrackInfo {
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = chunk
	}
	return sched.TrackInfo{ID: id, ChunkSizes: sizes, BitrateBps: 160_000}
}

// chunkDur is how long one chunk plays at speed 1.
const chunkDur = time.Duration(float64(chunk) / 20_000 * float64(time.Second))

func originSrc(id string, rtt time.Duration, connected bool) *schedtest.Source {
	return &schedtest.Source{Info: sched.SourceInfo{ID: sched.SourceID(id), Kind: sched.KindOrigin, RTT: rtt, BytesPerSecond: 2_000_000, Connected: connected}}
}

func peerSrc(id string, rtt time.Duration, bps int64, connected bool) *schedtest.Source {
	return &schedtest.Source{Info: sched.SourceInfo{ID: sched.SourceID(id), Kind: sched.KindPeer, RTT: rtt, BytesPerSecond: bps, Connected: connected}}
}

func newHarness(t *testing.T, cfg sched.Config) *schedtest.Harness {
	t.Helper()
	s, err := sched.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return schedtest.New(s, t0)
}

// found tells the scheduler that the given peers hold track (as a cached
// provider record would, before Play).
func found(h *schedtest.Harness, track string, peers ...*schedtest.Source) {
	var infos []sched.SourceInfo
	for _, p := range peers {
		infos = append(infos, p.Info)
	}
	h.Post(sched.PeersFound{At: h.Now, Track: track, Sources: infos})
}

func run(t *testing.T, h *schedtest.Harness, d time.Duration) {
	t.Helper()
	if err := h.Run(d); err != nil {
		t.Fatal(err)
	}
}

func originRequests(h *schedtest.Harness) []schedtest.Logged {
	return h.Requests(func(_ time.Time, r sched.Request) bool { return r.Kind == sched.KindOrigin })
}

func TestConfigValidation(t *testing.T) {
	bad := []sched.Config{
		{Speed: -1},
		{HedgeMargin: -time.Second},
		{MaxOutstandingPerSource: -1},
		{PrefetchPeersAt: 5 * time.Second, PrefetchOriginAt: 10 * time.Second},
		{FirstChunk: 9},
	}
	for _, c := range bad {
		if _, err := sched.New(c); !errors.Is(err, sched.ErrBadConfig) {
			t.Errorf("New(%+v) = %v; want ErrBadConfig", c, err)
		}
	}
	s, err := sched.New(sched.Config{})
	if err != nil {
		t.Fatalf("New(Config{}) = %v; want nil", err)
	}
	if got := s.Config().MaxOriginAhead; got != 15*time.Second {
		t.Errorf("default MaxOriginAhead = %v; want 15s", got)
	}
}

func TestBadTrackAndEvents(t *testing.T) {
	s, _ := sched.New(sched.Config{})
	for _, tr := range []sched.TrackInfo{
		{ID: "empty", BitrateBps: 160_000},
		{ID: "zero", ChunkSizes: []int{0}, BitrateBps: 160_000},
		{ID: "norate", ChunkSizes: []int{10}},
		{ID: "cache", ChunkSizes: []int{10}, BitrateBps: 1, Cached: []bool{true, false}},
	} {
		if _, err := s.Step(sched.Play{At: t0, Track: tr}, nil); !errors.Is(err, sched.ErrBadTrack) {
			t.Errorf("Step(Play %q) = %v; want ErrBadTrack", tr.ID, err)
		}
	}
	if _, err := s.Step(sched.Play{At: t0, Track: track("a", 2), StartOffset: 3 * chunk}, nil); !errors.Is(err, sched.ErrBadEvent) {
		t.Errorf("Step(Play past end) = %v; want ErrBadEvent", err)
	}
	if _, err := s.Step(sched.Seek{At: t0, Offset: 1}, nil); !errors.Is(err, sched.ErrBadEvent) {
		t.Errorf("Step(Seek without play) = %v; want ErrBadEvent", err)
	}
	if _, err := s.Step(sched.Stop{}, nil); !errors.Is(err, sched.ErrBadEvent) {
		t.Errorf("Step(Stop without time) = %v; want ErrBadEvent", err)
	}
}

// TestChooseSource checks the source of the first chunk and of the next
// one right after Play, for several source sets.
func TestChooseSource(t *testing.T) {
	type want struct {
		src    string
		chunk  int
		reason sched.Reason
	}
	tests := []struct {
		name    string
		cfg     sched.Config
		sources []*schedtest.Source
		holders []string // peers announced as holding the track
		cached  []bool
		want    []want // requests in the Play step, in order
	}{
		{
			name:    "cache first",
			sources: []*schedtest.Source{originSrc("o", 40*time.Millisecond, false)},
			cached:  []bool{true, true, false, false},
			want:    []want{{"cache", 0, sched.ReasonCache}, {"cache", 1, sched.ReasonCache}, {"o", 2, sched.ReasonNoPeer}, {"o", 3, sched.ReasonNoPeer}},
		},
		{
			name:    "origin alone without peers",
			sources: []*schedtest.Source{originSrc("o", 40*time.Millisecond, false)},
			want:    []want{{"o", 0, sched.ReasonRace}, {"o", 1, sched.ReasonNoPeer}, {"o", 2, sched.ReasonNoPeer}, {"o", 3, sched.ReasonNoPeer}},
		},
		{
			// A fresh origin (no RTT measured yet) carries what its new
			// connection's initial window lets through: two chunks.
			name:    "fresh origin carries its initial window",
			sources: []*schedtest.Source{originSrc("o", 0, false)},
			want:    []want{{"o", 0, sched.ReasonRace}, {"o", 1, sched.ReasonNoPeer}},
		},
		{
			name: "race connected peer and origin",
			sources: []*schedtest.Source{
				originSrc("o", 40*time.Millisecond, false),
				peerSrc("p", 20*time.Millisecond, 1_000_000, true),
			},
			holders: []string{"p"},
			// The peer's window: twice its bandwidth-delay product (20 ms
			// x 1 MB/s) plus a chunk, 56,384 B: three chunks.
			want: []want{{"p", 0, sched.ReasonPeer}, {"o", 0, sched.ReasonRace}, {"p", 1, sched.ReasonPeer}, {"p", 2, sched.ReasonPeer}},
		},
		{
			name: "DHT-found peer not used for the first chunk",
			sources: []*schedtest.Source{
				originSrc("o", 40*time.Millisecond, false),
				peerSrc("p", 20*time.Millisecond, 1_000_000, false),
			},
			holders: []string{"p"},
			want:    []want{{"o", 0, sched.ReasonRace}, {"p", 1, sched.ReasonPeer}, {"p", 2, sched.ReasonPeer}, {"p", 3, sched.ReasonPeer}},
		},
		{
			name: "hedged race asks the peer alone",
			cfg:  sched.Config{FirstChunk: sched.RaceHedged},
			sources: []*schedtest.Source{
				originSrc("o", 40*time.Millisecond, false),
				peerSrc("p", 20*time.Millisecond, 1_000_000, true),
			},
			holders: []string{"p"},
			want:    []want{{"p", 0, sched.ReasonPeer}, {"p", 1, sched.ReasonPeer}, {"p", 2, sched.ReasonPeer}},
		},
		{
			name:    "no origin: a peer not yet connected",
			sources: []*schedtest.Source{peerSrc("p", 20*time.Millisecond, 1_000_000, false)},
			holders: []string{"p"},
			want:    []want{{"p", 0, sched.ReasonPeer}, {"p", 1, sched.ReasonPeer}, {"p", 2, sched.ReasonPeer}},
		},
		{
			// A fresh connection carries as many of the first chunks as
			// its initial window (40,000 B): two 16 KiB chunks, chunk 0
			// first, in the Play step itself.
			name:    "fresh peer, no origin: first flight fills the initial window",
			sources: []*schedtest.Source{peerSrc("p", 0, 0, false)},
			holders: []string{"p"},
			want:    []want{{"p", 0, sched.ReasonPeer}, {"p", 1, sched.ReasonPeer}},
		},
		{
			name:    "fresh peer, a larger initial window",
			cfg:     sched.Config{InitialWindow: 4 * chunk},
			sources: []*schedtest.Source{peerSrc("p", 0, 0, false)},
			holders: []string{"p"},
			want:    []want{{"p", 0, sched.ReasonPeer}, {"p", 1, sched.ReasonPeer}, {"p", 2, sched.ReasonPeer}, {"p", 3, sched.ReasonPeer}},
		},
		{
			// Cold peer and cold origin: the origin races chunk 0, the
			// peer's first flight carries the next ones.
			name:    "fresh peer and fresh origin split the first flight",
			sources: []*schedtest.Source{originSrc("o", 0, false), peerSrc("p", 0, 0, false)},
			holders: []string{"p"},
			want:    []want{{"o", 0, sched.ReasonRace}, {"p", 1, sched.ReasonPeer}, {"p", 2, sched.ReasonPeer}},
		},
		{
			name:    "connected fresh peer races the origin and carries chunk 1",
			sources: []*schedtest.Source{originSrc("o", 0, false), peerSrc("p", 0, 0, true)},
			holders: []string{"p"},
			want:    []want{{"p", 0, sched.ReasonPeer}, {"o", 0, sched.ReasonRace}, {"p", 1, sched.ReasonPeer}},
		},
		{
			name: "fastest expected download wins",
			cfg:  sched.Config{MaxOutstandingPerSource: 1},
			sources: []*schedtest.Source{
				originSrc("o", 40*time.Millisecond, true),
				peerSrc("slow", 200*time.Millisecond, 50_000, true),
				peerSrc("fast", 30*time.Millisecond, 500_000, true),
				peerSrc("mid", 60*time.Millisecond, 300_000, true),
			},
			holders: []string{"slow", "fast", "mid"},
			want:    []want{{"fast", 0, sched.ReasonPeer}, {"o", 0, sched.ReasonRace}, {"mid", 1, sched.ReasonPeer}, {"slow", 2, sched.ReasonPeer}},
		},
		{
			name: "too slow peer loses an urgent chunk to the origin",
			cfg:  sched.Config{MaxOutstandingPerSource: 8},
			sources: []*schedtest.Source{
				originSrc("o", 40*time.Millisecond, true),
				peerSrc("slow", 900*time.Millisecond, 20_000, true),
			},
			holders: []string{"slow"},
			want: []want{{"slow", 0, sched.ReasonPeer}, {"o", 0, sched.ReasonRace}, {"o", 1, sched.ReasonAtRisk},
				{"o", 2, sched.ReasonAtRisk}, {"slow", 3, sched.ReasonPeer}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sched.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var out []sched.Action
			byID := map[string]*schedtest.Source{}
			for _, src := range tt.sources {
				byID[string(src.Info.ID)] = src
				if src.Info.Kind == sched.KindOrigin || src.Info.Connected {
					if out, err = s.Step(sched.SourceUpdate{At: t0, Source: src.Info}, out[:0]); err != nil {
						t.Fatal(err)
					}
				}
			}
			var infos []sched.SourceInfo
			for _, id := range tt.holders {
				infos = append(infos, byID[id].Info)
			}
			tr := track("t", 4)
			tr.Cached = tt.cached
			// The track was shown and its lookup answered: the choices
			// below are not held for a pending lookup (LookupWait).
			if out, err = s.Step(sched.Show{At: t0, Track: "t"}, out[:0]); err != nil {
				t.Fatal(err)
			}
			if out, err = s.Step(sched.PeersFound{At: t0, Track: "t", Sources: infos}, out[:0]); err != nil {
				t.Fatal(err)
			}
			if out, err = s.Step(sched.Play{At: t0, Track: tr}, out[:0]); err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, a := range out {
				if r, ok := a.(sched.Request); ok {
					got = append(got, want{string(r.Source), r.Chunk, r.Reason})
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Step(Play) requests = %v; want %v", got, tt.want)
			}
		})
	}
}
