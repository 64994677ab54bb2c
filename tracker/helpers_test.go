package tracker_test

import (
	"crypto/ed25519"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

// epoch is where fake clocks start: near the real time, so tickets look
// sane to humans reading failures.
var epoch = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// fakeHarness starts a tracker on a fake clock.
func fakeHarness(t *testing.T, opts ...trackertest.Option) (*trackertest.Harness, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	opts = append([]trackertest.Option{func(o *tracker.Options) { o.Clock = clk }}, opts...)
	return trackertest.New(t, opts...), clk
}

// writeWAV writes a short synthetic WAV named "<artist> - <title>.wav" in
// dir and returns its path. Different seeds give different files.
func writeWAV(t testing.TB, dir, artist, title string, seed int64, seconds float64) string {
	t.Helper()
	path := filepath.Join(dir, artist+" - "+title+".wav")
	if err := samples.WriteFile(path, samples.Spec{Seconds: seconds, SampleRate: 8000, Channels: 1, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	return path
}

// pinnedKeys returns the published keys as a verification map.
func pinnedKeys(ks protocol.SigningKeys) map[string]ed25519.PublicKey {
	m := make(map[string]ed25519.PublicKey)
	for _, k := range ks.Keys {
		m[k.KeyID] = ed25519.PublicKey(k.PublicKey)
	}
	return m
}

// fillPattern replaces {id} in a route pattern.
func fillPattern(p, id string) string { return strings.ReplaceAll(p, "{id}", id) }

// bodyFor returns a valid request body for a route, so that a 401 cannot
// come from a bad body.
func bodyFor(rt tracker.Route, peerID string) any {
	switch rt.Pattern {
	case protocol.PathTicket:
		return protocol.TicketRequest{PeerID: peerID}
	case protocol.PathAnnounce:
		return protocol.AnnounceRequest{PeerID: peerID, Addrs: []string{"/ip4/127.0.0.1/udp/4001/quic-v1"}}
	}
	if rt.Method == http.MethodPost {
		return struct{}{}
	}
	return nil
}
