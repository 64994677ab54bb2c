package tracker_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

func TestNetworkAndAnnounce(t *testing.T) {
	h, clk := fakeHarness(t, func(o *tracker.Options) {
		o.Origins = []string{"https://127.0.0.1:4433"}
		o.TicketTTL = time.Hour
		o.AnnounceTTL = 10 * time.Minute
	})
	if err := h.Server.AddOrigin("http://127.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	if err := h.Server.AddOrigin("ftp://x"); err == nil {
		t.Errorf("AddOrigin(ftp://x) = nil; want error")
	}
	alice := h.User(t, "alice")
	bob := h.User(t, "bob")

	var info protocol.NetworkInfo
	if code := h.Do(t, http.MethodGet, protocol.PathNetwork, alice.AccessToken, nil, &info); code != http.StatusOK {
		t.Fatalf("GET network = %d", code)
	}
	if want := []string{"https://127.0.0.1:4433", "http://127.0.0.1:8080"}; !slices.Equal(info.Origins, want) || len(info.Bootstrap) != 0 {
		t.Fatalf("network = %+v; want origins %v, no bootstrap peers", info, want)
	}

	peerA := newPeerID(t)
	addr := "/ip4/127.0.0.1/udp/4001/quic-v1"
	announce := func(tok, peer string, addrs ...string) (int, protocol.Error) {
		var perr protocol.Error
		code := h.Do(t, http.MethodPost, protocol.PathAnnounce, tok, protocol.AnnounceRequest{PeerID: peer, Addrs: addrs}, &perr)
		return code, perr
	}
	// No ticket yet: refused.
	if code, perr := announce(alice.AccessToken, peerA, addr); code != http.StatusForbidden || perr.Code != protocol.CodeForbidden {
		t.Fatalf("announce without ticket = %d %+v; want 403 forbidden", code, perr)
	}
	if code := h.Do(t, http.MethodPost, protocol.PathTicket, alice.AccessToken, protocol.TicketRequest{PeerID: peerA}, nil); code != http.StatusOK {
		t.Fatalf("ticket = %d", code)
	}
	// Bob holds no ticket for alice's peer.
	if code, _ := announce(bob.AccessToken, peerA, addr); code != http.StatusForbidden {
		t.Fatalf("announce with another account's ticket = %d; want 403", code)
	}
	// Bad addresses.
	for _, bad := range [][]string{
		nil,
		{"not a multiaddr"},
		{"/ip4/999.0.0.1/udp/1/quic-v1"},
		{addr + "/p2p/" + peerA},
		slices.Repeat([]string{addr}, 9),
		{"/" + strings.Repeat("x", 300)},
	} {
		if code, perr := announce(alice.AccessToken, peerA, bad...); code != http.StatusBadRequest || perr.Code != protocol.CodeBadRequest {
			t.Errorf("announce %q = %d %+v; want 400", bad, code, perr)
		}
	}
	if code, _ := announce(alice.AccessToken, peerA, addr, "/ip6/::1/udp/4001/quic-v1", addr); code != http.StatusNoContent {
		t.Fatalf("announce = %d; want 204", code)
	}
	h.Do(t, http.MethodGet, protocol.PathNetwork, alice.AccessToken, nil, &info)
	want := []string{addr + "/p2p/" + peerA, "/ip6/::1/udp/4001/quic-v1/p2p/" + peerA}
	if !slices.Equal(info.Bootstrap, want) {
		t.Fatalf("bootstrap = %v; want %v", info.Bootstrap, want)
	}

	// Always-on DHT servers head the list, before announced peers.
	server := "/ip4/127.0.0.1/udp/7071/quic-v1/p2p/" + newPeerID(t)
	h.Server.SetDHTServers([]string{server})
	h.Do(t, http.MethodGet, protocol.PathNetwork, alice.AccessToken, nil, &info)
	if want := append([]string{server}, want...); !slices.Equal(info.Bootstrap, want) {
		t.Fatalf("bootstrap with a DHT server = %v; want %v", info.Bootstrap, want)
	}
	if !slices.Equal(info.DHTServers, []string{server}) {
		t.Fatalf("dht_servers = %v; want %v, so clients ask it first", info.DHTServers, []string{server})
	}
	h.Server.SetDHTServers(nil)

	// Twelve more peers: only the ten most recent are listed.
	var peers []string
	for i := range 12 {
		clk.Advance(time.Second)
		p := newPeerID(t)
		peers = append(peers, p)
		h.Do(t, http.MethodPost, protocol.PathTicket, bob.AccessToken, protocol.TicketRequest{PeerID: p}, nil)
		if code, _ := announce(bob.AccessToken, p, fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", 5000+i)); code != http.StatusNoContent {
			t.Fatalf("announce %d = %d", i, code)
		}
	}
	h.Do(t, http.MethodGet, protocol.PathNetwork, bob.AccessToken, nil, &info)
	if len(info.Bootstrap) != tracker.MaxBootstrapPeers || !strings.HasSuffix(info.Bootstrap[0], "/p2p/"+peers[11]) {
		t.Fatalf("bootstrap = %v; want the %d newest, %s first", info.Bootstrap, tracker.MaxBootstrapPeers, peers[11])
	}
	// Announcements expire after AnnounceTTL.
	clk.Advance(11 * time.Minute)
	h2 := h.Login(t, "bob", trackertest.DefaultPassword)
	h.Do(t, http.MethodGet, protocol.PathNetwork, h2.AccessToken, nil, &info)
	if len(info.Bootstrap) != 0 {
		t.Fatalf("bootstrap after expiry = %v; want none", info.Bootstrap)
	}
	// After the ticket expires, announcing is refused again.
	clk.Advance(time.Hour)
	h3 := h.Login(t, "alice", trackertest.DefaultPassword)
	if code, _ := announce(h3.AccessToken, peerA, addr); code != http.StatusForbidden {
		t.Fatalf("announce after ticket expiry = %d; want 403", code)
	}
}

func TestMetrics(t *testing.T) {
	h := trackertest.New(t)
	sink := &trackertest.MemSink{}
	tr := h.Ingest(t, writeWAV(t, t.TempDir(), "M", "Metric", 1, 0.2), sink)
	sess := h.User(t, "alice")
	h.Do(t, http.MethodPost, protocol.PathLogin, "", protocol.LoginRequest{Username: "alice", Password: "bad password"}, nil)
	h.Do(t, http.MethodGet, fillPattern(protocol.PathTrackKey, tr.ID), sess.AccessToken, nil, nil)
	h.Do(t, http.MethodPost, protocol.PathTicket, sess.AccessToken, protocol.TicketRequest{PeerID: newPeerID(t)}, nil)

	resp, err := h.Client.Get(h.URL + protocol.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`chorus_tracker_requests_total{code="200",method="POST",route="/v1/login"} 1`,
		`chorus_tracker_requests_total{code="401",method="POST",route="/v1/login"} 1`,
		`chorus_tracker_requests_total{code="200",method="GET",route="/v1/tracks/{id}/key"} 1`,
		`chorus_tracker_request_duration_seconds_count{method="GET",route="/v1/tracks/{id}/key"} 1`,
		`chorus_tracker_audit_batch_entries_count 1`,
		`chorus_tracker_ticket_batch_records_count 1`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
		`chorus_tracker_login_failures_total{reason="bad_credentials"} 1`,
		`chorus_tracker_password_check_seconds_count 2`, // alice's login and the bad one
		`chorus_tracker_track_keys_served_total 1`,
		`chorus_tracker_tickets_issued_total 1`,
		`chorus_tracker_ingests_total{result="created"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Route labels are single words (no spaces): easy to select by.
	for _, line := range strings.Split(string(body), "\n") {
		if i := strings.Index(line, `route="`); i >= 0 {
			v := line[i+len(`route="`):]
			if v = v[:strings.IndexByte(v, '"')]; strings.ContainsAny(v, " \t") {
				t.Errorf("route label %q has a space: %s", v, line)
			}
		}
	}
	// Secrets never appear in metrics.
	for _, secret := range []string{sess.AccessToken, sess.RefreshToken, trackertest.DefaultPassword} {
		if strings.Contains(string(body), secret) {
			t.Errorf("metrics contain a secret")
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	h := trackertest.New(t)
	tests := []struct {
		name string
		opts tracker.Options
	}{
		{"no store", tracker.Options{}},
		{"short access ttl", tracker.Options{Store: h.Store, AccessTTL: time.Millisecond}},
		{"refresh shorter than access", tracker.Options{Store: h.Store, AccessTTL: time.Hour, RefreshTTL: time.Minute}},
		{"bad origin", tracker.Options{Store: h.Store, Origins: []string{"127.0.0.1:80"}}},
		{"huge argon2", tracker.Options{Store: h.Store, Argon2: tracker.Argon2Params{MemoryK: 1 << 30}}},
		{"bad limit", tracker.Options{Store: h.Store, LoginPolicy: tracker.LoginPolicy{PairBurst: -1}}},
		{"negative chunk size", tracker.Options{Store: h.Store, ChunkSize: -16}},
	}
	for _, tc := range tests {
		if srv, err := tracker.New(tc.opts); err == nil {
			srv.Close()
			t.Errorf("New(%s) = nil error; want error", tc.name)
		}
	}
}

func TestSweeperDeletesExpired(t *testing.T) {
	h, clk := fakeHarness(t)
	sess := h.User(t, "alice")
	hash := sha256.Sum256([]byte(sess.RefreshToken))
	ctx := context.Background()
	if _, err := h.Store.SessionByRefresh(ctx, hash[:]); err != nil {
		t.Fatalf("session not stored: %v", err)
	}
	clk.Advance(30*24*time.Hour + 10*time.Minute)
	if _, err := h.Store.SessionByRefresh(ctx, hash[:]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session after RefreshTTL and a sweep = %v; want ErrNotFound", err)
	}
	h.Server.Close()
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers armed after Close; want 0", n)
	}
}
