package trackertest_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

func TestHarness(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	h := trackertest.New(t, trackertest.WithClock(clk))
	sess := h.User(t, "alice")
	if sess.Account != "alice" || !sess.AccessExpiresAt.Equal(clk.Now().Add(15*time.Minute)) {
		t.Fatalf("User = %+v; want alice's session expiring in 15m of fake time", sess)
	}
	path := filepath.Join(t.TempDir(), "Harness Band - Test Tone.wav")
	if err := samples.WriteFile(path, samples.Spec{Seconds: 0.5, SampleRate: 8000, Channels: 1}); err != nil {
		t.Fatal(err)
	}
	sink := &trackertest.MemSink{}
	tr := h.Ingest(t, path, sink)
	if sink.Len() != tr.Chunks {
		t.Errorf("sink has %d chunks; want %d", sink.Len(), tr.Chunks)
	}
	var list protocol.TrackList
	if code := h.Do(t, http.MethodGet, protocol.PathSearch+"?q=tone", sess.AccessToken, nil, &list); code != http.StatusOK || len(list.Tracks) != 1 {
		t.Fatalf("search = %d %+v; want the track", code, list)
	}
	var perr protocol.Error
	if code := h.Do(t, http.MethodGet, protocol.PathTracks, "", nil, &perr); code != http.StatusUnauthorized || perr.Code != protocol.CodeUnauthorized {
		t.Fatalf("GET tracks without token = %d %+v; want 401 unauthorized", code, perr)
	}
	if len(h.Keys(t).Keys) != 1 {
		t.Fatalf("want one signing key")
	}
}
