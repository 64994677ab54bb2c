package sched_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/sched"
)

// TestPruneForgetsPeersOfOldPlays: over many plays, each of a track held by
// peers no other play knows, the scheduler forgets the peers of tracks it no
// longer plays (telling the driver with Forget) and keeps those of the
// playing track.
func TestPruneForgetsPeersOfOldPlays(t *testing.T) {
	h := newHarness(t, sched.Config{Speed: 8})
	h.AddSource(originSrc("o", 20*time.Millisecond, true), true)
	const plays = 200
	for k := range plays {
		id := fmt.Sprintf("t%d", k)
		p := peerSrc(fmt.Sprintf("p%d", k), 10*time.Millisecond, 1_000_000, true)
		p.Has = func(track string, _ int) bool { return track == id }
		h.AddSource(p, false)
		h.Post(sched.Play{At: h.Now, Track: track(id, 40)})
		run(t, h, 10*time.Second)
	}
	forgot := map[sched.SourceID]bool{}
	for _, l := range h.Log {
		if f, ok := l.Action.(sched.Forget); ok {
			if forgot[f.Source] {
				t.Errorf("Forget{%s} twice", f.Source)
			}
			forgot[f.Source] = true
		}
	}
	if len(forgot) < plays/2 {
		t.Errorf("forgot %d of %d peers of past plays; want most", len(forgot), plays)
	}
	last := sched.SourceID(fmt.Sprintf("p%d", plays-1))
	if forgot[last] || forgot["o"] {
		t.Errorf("forgot %v; want the playing track's peer and the origin kept", forgot)
	}
	// The playing track's peer, kept, still serves.
	again := h.Requests(func(_ time.Time, r sched.Request) bool { return r.Source == last && r.Kind == sched.KindPeer })
	if len(again) == 0 {
		t.Errorf("no request to %s, the last play's peer", last)
	}
	if st := h.S.Stats(); !st.Ended || st.Bytes[sched.KindPeer] == 0 {
		t.Errorf("last play's stats = %+v; want it ended with peer bytes", st)
	}
}

// TestSupersededTimerIsIgnored: a TimerFired for a timer that a later
// ArmTimer superseded changes nothing and returns no action.
func TestSupersededTimerIsIgnored(t *testing.T) {
	s, err := sched.New(sched.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Step(sched.SourceUpdate{At: t0, Source: sched.SourceInfo{ID: "o", Kind: sched.KindOrigin, Connected: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err = s.Step(sched.Play{At: t0, Track: track("t", 100)}, out[:0])
	if err != nil {
		t.Fatal(err)
	}
	var armed []sched.ArmTimer
	collect := func(out []sched.Action) {
		for _, a := range out {
			if at, ok := a.(sched.ArmTimer); ok {
				armed = append(armed, at)
			}
		}
	}
	collect(out)
	// Deliver chunks so that the scheduler arms new timers.
	for i := 0; len(armed) < 2 && i < 100; i++ {
		out, err = s.Step(sched.ChunkArrived{At: t0.Add(time.Duration(i+1) * 10 * time.Millisecond), Req: sched.ReqID(i + 1), Bytes: chunk}, out[:0])
		if err != nil {
			t.Fatal(err)
		}
		collect(out)
	}
	if len(armed) < 2 {
		t.Fatalf("armed %v; want two timers", armed)
	}
	before := s.Stats()
	old := armed[0]
	out, err = s.Step(sched.TimerFired{At: t0.Add(2 * time.Second), Timer: old.Timer}, out[:0])
	if err != nil || len(out) != 0 {
		t.Fatalf("Step(superseded TimerFired) = %v, %v; want no actions", out, err)
	}
	if after := s.Stats(); after != before {
		t.Errorf("stats changed on a superseded timer: %+v -> %+v", before, after)
	}
}

func TestSourceKindJSONKeys(t *testing.T) {
	in := map[sched.SourceKind]int64{sched.KindOrigin: 3, sched.KindPeer: 2, sched.KindCache: 1}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cache":1,"origin":3,"peer":2}`; string(b) != want {
		t.Errorf("json.Marshal(%v) = %s; want %s", in, b, want)
	}
	var back map[sched.SourceKind]int64
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 3 || back[sched.KindOrigin] != 3 {
		t.Errorf("json.Unmarshal(%s) = %v, %v; want %v", b, back, err, in)
	}
	if err := json.Unmarshal([]byte(`{"disk":1}`), &back); err == nil {
		t.Error(`json.Unmarshal({"disk":1}) succeeded; want an error`)
	}
}
