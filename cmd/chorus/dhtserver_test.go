package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/chorus-music/chorus/protocol"
)

// TestBootstrapFirst: GET /v1/network lists the DHT server first, then the
// tracker's own bootstrap peers; other requests and failed answers pass
// through untouched.
func TestBootstrapFirst(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case protocol.PathNetwork:
			if r.Header.Get("Authorization") == "" {
				http.Error(w, "no session", http.StatusUnauthorized)
				return
			}
			json.NewEncoder(w).Encode(protocol.NetworkInfo{Origins: []string{"https://o"}, Bootstrap: []string{"/ip4/1.2.3.4/udp/1/quic-v1/p2p/listener"}})
		default:
			w.Write([]byte("other"))
		}
	})
	h := withBootstrapFirst(api, func() []string { return []string{"/ip4/127.0.0.1/udp/7071/quic-v1/p2p/server"} })

	req := httptest.NewRequest(http.MethodGet, protocol.PathNetwork, nil)
	req.Header.Set("Authorization", "Bearer x")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var info protocol.NetworkInfo
	if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET %s = %d %q (%v)", protocol.PathNetwork, rec.Code, rec.Body, err)
	}
	want := []string{"/ip4/127.0.0.1/udp/7071/quic-v1/p2p/server", "/ip4/1.2.3.4/udp/1/quic-v1/p2p/listener"}
	if !slices.Equal(info.Bootstrap, want) || !slices.Equal(info.Origins, []string{"https://o"}) {
		t.Errorf("network info = %+v; want bootstrap %v and the origin unchanged", info, want)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, protocol.PathNetwork, nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("unauthenticated GET = %d; want the tracker's 401 passed through", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/other", nil))
	if rec.Body.String() != "other" {
		t.Errorf("other path answered %q; want it passed through", rec.Body)
	}
}
