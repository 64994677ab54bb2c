package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/daemon/daemontest"
	"github.com/chorus-music/chorus/node"
)

// api is a test's client of the daemon's API.
type api struct {
	t   *testing.T
	url string
	key string
}

func (a api) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.key != "" {
		req.Header.Set("X-API-Key", a.key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp, data
}

// ok does a request that must answer 2xx and decodes the answer into out.
func (a api) ok(method, path, body string, out any) {
	a.t.Helper()
	resp, data := a.do(method, path, body)
	if resp.StatusCode/100 != 2 {
		a.t.Fatalf("%s %s %s = %d %s; want 2xx", method, path, body, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, data)
		}
	}
}

func (a api) status() daemon.Status {
	a.t.Helper()
	var s daemon.Status
	a.ok("GET", "/api/status", "", &s)
	return s
}

// waitStatus follows the event stream until cond holds.
func (a api) waitStatus(what string, timeout time.Duration, cond func(daemon.Status) bool) daemon.Status {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.url+"/api/events", nil)
	req.Header.Set("X-API-Key", a.key)
	client := &http.Client{Timeout: timeout}
	resp, err := client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := newSSE(resp.Body)
	var last daemon.Status
	for {
		ev, data, err := dec.next()
		if err != nil {
			a.t.Fatalf("no status where %s within %v (%v); last: %+v", what, timeout, err, last)
		}
		if ev != "status" {
			continue
		}
		if err := json.Unmarshal(data, &last); err != nil {
			a.t.Fatalf("status event is not JSON: %v\n%s", err, data)
		}
		if cond(last) {
			return last
		}
	}
}

type sse struct {
	r   *bytes.Buffer
	src io.Reader
}

func newSSE(r io.Reader) *sse { return &sse{r: &bytes.Buffer{}, src: r} }

// next returns the next event's name and data.
func (s *sse) next() (string, []byte, error) {
	for {
		if i := bytes.Index(s.r.Bytes(), []byte("\n\n")); i >= 0 {
			block := string(s.r.Next(i + 2))
			var ev, data string
			for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
				if v, ok := strings.CutPrefix(l, "event: "); ok {
					ev = v
				} else if v, ok := strings.CutPrefix(l, "data: "); ok {
					data += v
				}
			}
			return ev, []byte(data), nil
		}
		buf := make([]byte, 32<<10)
		n, err := s.src.Read(buf)
		s.r.Write(buf[:n])
		if err != nil && n == 0 {
			return "", nil, err
		}
	}
}

func startSwarm(t *testing.T, o daemontest.Options) (*daemontest.Swarm, api) {
	if testing.Short() {
		t.Skip("starts a swarm")
	}
	s := daemontest.Start(t, o)
	return s, api{t: t, url: s.URL, key: s.APIKey}
}

// sourceFile returns the bytes of the i-th default test track.
func sourceFile(t *testing.T, i int) []byte {
	var buf bytes.Buffer
	if err := samples.WriteWAV(&buf, daemontest.DefaultTracks()[i].Spec); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAPI(t *testing.T) {
	s, a := startSwarm(t, daemontest.Options{Files: []string{filepath.Join("..", "..", "catalog", "testdata", "id3v1.mp3")}})
	noKey := api{t: t, url: a.url}

	t.Run("every route needs the key", func(t *testing.T) {
		for _, r := range s.Daemon.Routes() {
			method, _, _ := strings.Cut(r.Pattern, " ")
			resp, data := noKey.do(method, r.Example, "{}")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without a key = %d; want 401", method, r.Example, resp.StatusCode)
			}
			var e struct{ Error string }
			if json.Unmarshal(data, &e) != nil || e.Error == "" {
				t.Errorf("%s %s without a key answered %q; want a JSON error", method, r.Example, data)
			}
			wrong := api{t: t, url: a.url, key: "wrong-key-wrong-key"}
			if resp, _ := wrong.do(method, r.Example, "{}"); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with a wrong key = %d; want 401", method, r.Example, resp.StatusCode)
			}
		}
	})
	t.Run("wrong host and cross-site are refused", func(t *testing.T) {
		for _, h := range [][]string{
			{"Host", "evil.example:80"},
			{"Host", "attacker.test"},
			{"Origin", "http://evil.example"},
			{"Sec-Fetch-Site", "cross-site"},
		} {
			if resp, data := a.do("GET", "/api/status", "", h...); resp.StatusCode != http.StatusForbidden {
				t.Errorf("GET /api/status with %s: %s = %d %s; want 403", h[0], h[1], resp.StatusCode, data)
			}
		}
		if resp, _ := a.do("GET", "/api/status", "", "Origin", a.url, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusOK {
			t.Errorf("same-origin request = %d; want 200", resp.StatusCode)
		}
	})
	t.Run("login link sets an HttpOnly SameSite=Strict cookie once", func(t *testing.T) {
		link := s.Daemon.LoginLink()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("login link = %d to %q; want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
		ck := resp.Cookies()
		if len(ck) != 1 || ck[0].Name != daemon.CookieName || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
			t.Fatalf("login cookies = %+v; want one HttpOnly SameSite=Strict %s", ck, daemon.CookieName)
		}
		req, _ := http.NewRequest("GET", a.url+"/api/status", nil)
		req.AddCookie(ck[0])
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status with the cookie = %v %v; want 200", resp.StatusCode, err)
		}
		if resp, _ := c.Get(link); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("second use of the login link = %d; want 401", resp.StatusCode)
		}
	})
	t.Run("bad input gets 4xx with a JSON error", func(t *testing.T) {
		for _, c := range []struct {
			method, path, body string
			want               int
		}{
			{"POST", "/api/play", `{"id":"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}`, 404},
			{"POST", "/api/play", `{"id":"not-a-track"}`, 404},
			{"POST", "/api/play", `{"id":`, 400},
			{"POST", "/api/play", `{"id":"x","bogus":1}`, 400},
			{"POST", "/api/play", `{}`, 400},
			{"GET", "/api/tracks/not-a-track", ``, 404},
			{"GET", "/api/search", ``, 400},
			{"POST", "/api/queue", `[1,2]`, 400},
			{"DELETE", "/api/queue/7", ``, 400},
			{"DELETE", "/api/queue/-1", ``, 400},
			{"DELETE", "/api/queue/abc", ``, 400},
			{"POST", "/api/queue/move", `{"from":0,"to":3}`, 400},
			{"POST", "/api/seek", `{"position_ms":1000}`, 409},
			{"POST", "/api/sharing", `{"on":"yes"}`, 400},
			{"POST", "/api/player", `nonsense`, 400},
			{"POST", "/api/warm", `{"ids":"x"}`, 400},
		} {
			resp, data := a.do(c.method, c.path, c.body)
			var e struct{ Error string }
			if resp.StatusCode != c.want || json.Unmarshal(data, &e) != nil || e.Error == "" {
				t.Errorf("%s %s %s = %d %s; want %d with a JSON error", c.method, c.path, c.body, resp.StatusCode, data, c.want)
			}
		}
	})
	t.Run("search, track, queue, play, seek past the end", func(t *testing.T) {
		var res struct{ Tracks []daemon.Track }
		a.ok("GET", "/api/search?q=Wave", "", &res)
		if len(res.Tracks) != 1 || res.Tracks[0].Title != "Short Wave" {
			t.Fatalf("search Wave = %+v; want Short Wave", res.Tracks)
		}
		id := res.Tracks[0].ID
		var tr daemon.Track
		a.ok("GET", "/api/tracks/"+id, "", &tr)
		if tr.Title != "Short Wave" || tr.Artist != "Test Ensemble" || tr.Format != "audio/wav" || tr.Size != int64(len(sourceFile(t, 0))) || tr.DurationMS != 20000 {
			t.Fatalf("track = %+v", tr)
		}
		var q struct{ Items []daemon.Track }
		a.ok("POST", "/api/queue", fmt.Sprintf(`{"id":%q}`, s.Tracks[1].ID), &q)
		a.ok("POST", "/api/queue", fmt.Sprintf(`{"id":%q}`, s.Tracks[2].ID), &q)
		a.ok("POST", "/api/queue/move", `{"from":1,"to":0}`, &q)
		if len(q.Items) != 2 || q.Items[0].ID != s.Tracks[2].ID {
			t.Fatalf("queue after move = %+v", q.Items)
		}
		a.ok("DELETE", "/api/queue/0", "", &q)
		if len(q.Items) != 1 || q.Items[0].ID != s.Tracks[1].ID {
			t.Fatalf("queue after remove = %+v", q.Items)
		}
		var st daemon.Status
		a.ok("POST", "/api/play", fmt.Sprintf(`{"id":%q}`, id), &st)
		if st.Track == nil || st.Track.ID != id || st.AudioURL == "" {
			t.Fatalf("play answered %+v", st)
		}
		st = a.waitStatus("playing", 30*time.Second, func(s daemon.Status) bool { return s.State == "playing" })
		if st.Play.StartMS == nil || *st.Play.StartMS <= 0 || st.Peers == 0 {
			t.Errorf("playing status = %+v; want a start latency and peers", st)
		}
		if resp, data := a.do("POST", "/api/seek", `{"position_ms":20000}`); resp.StatusCode != 400 || !strings.Contains(string(data), "error") {
			t.Errorf("seek past the end = %d %s; want 400 with a JSON error", resp.StatusCode, data)
		}
		a.ok("POST", "/api/pause", "", &st)
		if st.State != "paused" {
			t.Errorf("after pause, state %q", st.State)
		}
		pos := st.PositionMS
		if st2 := a.status(); st2.PositionMS != pos {
			t.Errorf("paused position moved from %d to %d", pos, st2.PositionMS)
		}
		a.ok("POST", "/api/resume", "", &st)
		a.ok("POST", "/api/seek", `{"position_ms":15000}`, &st)
		if st.PositionMS < 15000 {
			t.Errorf("after seek to 15000 position is %d", st.PositionMS)
		}
		// The track ends and the queued one starts.
		st = a.waitStatus("the queued track plays", time.Minute, func(st daemon.Status) bool {
			return st.Track != nil && st.Track.ID == s.Tracks[1].ID
		})
		if st.Queued != 0 {
			t.Errorf("queue after advancing has %d tracks; want 0", st.Queued)
		}
		a.ok("DELETE", "/api/queue", "", &q)
	})
	t.Run("a late player report about another track is refused", func(t *testing.T) {
		st := a.status()
		if st.Track == nil {
			t.Fatal("nothing plays")
		}
		if resp, data := a.do("POST", "/api/player", fmt.Sprintf(`{"position_ms":0,"paused":false,"id":%q}`, s.Tracks[0].ID)); resp.StatusCode != http.StatusConflict {
			t.Errorf("player report about a track that ended = %d %s; want 409", resp.StatusCode, data)
		}
		if resp, data := a.do("POST", "/api/player", fmt.Sprintf(`{"position_ms":1000,"paused":false,"id":%q}`, st.Track.ID)); resp.StatusCode != http.StatusNoContent {
			t.Errorf("player report = %d %s; want 204", resp.StatusCode, data)
		}
	})
	t.Run("sharing off serves peers nothing, and is kept", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st := a.status()
		id, err := peer.Decode(st.Node.ID)
		if err != nil {
			t.Fatal(err)
		}
		ai := peer.AddrInfo{ID: id}
		for _, s := range st.Node.Addrs {
			ma, err := multiaddr.NewMultiaddr(s)
			if err != nil {
				t.Fatal(err)
			}
			ai.Addrs = append(ai.Addrs, ma)
		}
		l := s.Peers[1]
		if err := l.Node.Connect(ctx, ai); err != nil {
			t.Fatal(err)
		}
		m, err := l.Tracker.Manifest(ctx, s.Tracks[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		first := m.Chunks[0].CID
		if _, err := l.Node.Fetch(ctx, id, first); err != nil {
			t.Fatalf("fetch of a chunk the daemon played, sharing on: %v", err)
		}
		a.ok("POST", "/api/sharing", `{"on":false}`, &st)
		if st.Sharing {
			t.Fatal("status says sharing after turning it off")
		}
		if _, err := l.Node.Fetch(ctx, id, first); !errors.Is(err, node.ErrDontHave) {
			t.Errorf("fetch from the daemon with sharing off = %v; want ErrDontHave", err)
		}
		if cfg, _, err := daemon.LoadConfig(s.Paths); err != nil || cfg.Sharing {
			t.Errorf("config.json after sharing off: sharing %v, %v; want false", cfg.Sharing, err)
		}
		a.ok("POST", "/api/sharing", `{"on":true}`, &st)
	})
	t.Run("metrics include the node's", func(t *testing.T) {
		resp, data := a.do("GET", "/metrics", "")
		if resp.StatusCode != 200 {
			t.Fatalf("metrics = %d", resp.StatusCode)
		}
		for _, want := range []string{"chorus_node_fetches_total", "chorus_daemon_api_requests_total", "chorus_daemon_tracker_reachable 1"} {
			if !bytes.Contains(data, []byte(want)) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
