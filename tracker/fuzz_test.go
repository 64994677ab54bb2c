package tracker_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

// decodeRoutes are the routes that decode a request body, driven by
// FuzzDecodeRequest and TestBadBodies.
// The start route names a track in canonical form that no harness holds,
// so that every body, even one with the right password, ends in a 4xx.
var decodeRoutes = []string{protocol.PathLogin, protocol.PathRenew, protocol.PathTicket, protocol.PathAnnounce,
	fillPattern(protocol.PathStart, catalog.ChunkCID([]byte("no such track")).String())}

// postRaw sends body to a POST route through the handler.
func postRaw(h *trackertest.Harness, path, token string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.RemoteAddr = "127.0.0.1:1234"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.Server.ServeHTTP(rec, req)
	return rec
}

// checkErrorBody asserts a 4xx answer carries a JSON protocol.Error.
func checkErrorBody(t *testing.T, path string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("POST %s %q = %d; want no 5xx", path, body, rec.Code)
	}
	if rec.Code >= 400 {
		var perr protocol.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &perr); err != nil || perr.Code == "" || perr.Error == "" {
			t.Fatalf("POST %s %q = %d with body %q; want a JSON protocol.Error", path, body, rec.Code, rec.Body.Bytes())
		}
	}
}

func TestBadBodies(t *testing.T) {
	h := trackertest.New(t)
	sess := h.User(t, "alice")
	bodies := []string{
		``, ` `, `null`, `[]`, `"x"`, `1`, `{`, `}`, `{}{}`, `{} x`, `{"username":1}`,
		`{"username":"alice","password":"x","extra":1}`, `{"refresh_token":["a"]}`,
		`{"peer_id":null}`, `{"addrs":"x"}`, "\xff\xfe", `{"username":"\ud800"}`,
		`{"username":"alice","username":"bob"}`, strings.Repeat(" ", protocol.MaxRequestBody+10),
		`{"password":"` + strings.Repeat("a", protocol.MaxRequestBody) + `"}`,
	}
	for _, path := range decodeRoutes {
		for _, b := range bodies {
			rec := postRaw(h, path, sess.AccessToken, []byte(b))
			checkErrorBody(t, path, []byte(b), rec)
			if rec.Code/100 != 4 {
				t.Errorf("POST %s %.40q = %d; want 4xx", path, b, rec.Code)
			}
		}
	}
	// A 413 for an oversized body, 400 for the rest.
	rec := postRaw(h, protocol.PathLogin, "", []byte(`{"password":"`+strings.Repeat("a", protocol.MaxRequestBody)+`"}`))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized login body = %d; want 413", rec.Code)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	h := trackertest.New(f)
	h.CreateUser(f, "alice", trackertest.DefaultPassword)
	sess := h.Login(f, "alice", trackertest.DefaultPassword)
	peerID := newPeerID(f)
	seeds := []string{
		`{"username":"alice","password":"correct horse battery staple"}`,
		`{"username":"alice","password":"wrong"}`,
		`{"refresh_token":"` + strings.Repeat("A", 43) + `"}`,
		`{"username":"alice","password":"correct horse battery staple","network":true}`,
		`{"username":"alice","password":"x","refresh_token":"` + strings.Repeat("A", 43) + `"}`,
		`{"peer_id":"` + peerID + `"}`,
		`{"peer_id":"` + peerID + `","addrs":["/ip4/127.0.0.1/udp/1/quic-v1"]}`,
		`{}`, `{"x":1}`, `[`, ``, `null`,
	}
	for i := range decodeRoutes {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := decodeRoutes[int(route)%len(decodeRoutes)]
		rec := postRaw(h, path, sess.AccessToken, body)
		checkErrorBody(t, path, body, rec)
	})
}

// FuzzQuery drives the GET routes with arbitrary query strings and track
// IDs: every answer is 2xx or a 4xx JSON error, never a 5xx.
func FuzzQuery(f *testing.F) {
	h := trackertest.New(f)
	h.CreateUser(f, "alice", trackertest.DefaultPassword)
	sess := h.Login(f, "alice", trackertest.DefaultPassword)
	for _, s := range [][2]string{
		{"limit=10&offset=0", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"},
		{"q=light&limit=500", "x"},
		{"q=%22%2A%28&limit=-1", "Qm"},
		{"limit=1&limit=2&offset=99999999999999999999", ""},
		{"q=" + strings.Repeat("a", 300), "%zz"},
		{"%zz=1;a=b", "bafy"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, query, id string) {
		paths := []string{protocol.PathTracks, protocol.PathSearch,
			"/v1/tracks/" + url.PathEscape(id) + "/manifest", "/v1/tracks/" + url.PathEscape(id) + "/key"}
		for _, p := range paths {
			req, err := http.NewRequest(http.MethodGet, "http://tracker"+p+"?"+query, nil)
			if err != nil {
				return // not a request a client could send
			}
			req.RemoteAddr = "127.0.0.1:1234"
			req.Header.Set("Authorization", "Bearer "+sess.AccessToken)
			rec := httptest.NewRecorder()
			h.Server.ServeHTTP(rec, req)
			checkErrorBody(t, p+"?"+query, nil, rec)
		}
	})
}
