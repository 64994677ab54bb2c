package web_test

// A throwaway stand-in for the daemon's API (DAEMON-API.md), used only while
// the real daemon is being built; the acceptance test runs on the real one.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client/web"
)

type fakeTrack struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Artist     string `json:"artist"`
	Album      string `json:"album"`
	DurationMS int64  `json:"duration_ms"`
	Format     string `json:"format"`
	Size       int64  `json:"size"`
	wav        []byte
}

type fakeDaemon struct {
	mu       sync.Mutex
	tracks   []*fakeTrack
	cur      *fakeTrack
	queue    []*fakeTrack
	hist     []*fakeTrack
	pos      int64
	paused   bool
	sharing  bool
	playN    int
	peerB    int64
	originB  int64
	changed  chan struct{}
	warmIDs  []string
	stopping chan struct{}
}

func startFakeDaemon(t *testing.T) (base string) {
	d := &fakeDaemon{sharing: true, changed: make(chan struct{}, 1), stopping: make(chan struct{})}
	for i, n := range samples.Demo() {
		var b bytes.Buffer
		if err := samples.WriteWAV(&b, n.Spec); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(n.FileName, ".wav")
		artist, title, _ := strings.Cut(name, " - ")
		d.tracks = append(d.tracks, &fakeTrack{ID: fmt.Sprintf("t%d", i), Title: title, Artist: artist, Album: "Demo", DurationMS: int64(n.Spec.Seconds * 1000), Format: "wav", Size: int64(b.Len()), wav: b.Bytes()})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", web.Handler())
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/", http.StatusSeeOther) })
	js := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	bad := func(w http.ResponseWriter, code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	mux.HandleFunc("GET /api/search", func(w http.ResponseWriter, r *http.Request) {
		q := strings.ToLower(r.URL.Query().Get("q"))
		out := []*fakeTrack{}
		for _, t := range d.tracks {
			if strings.Contains(strings.ToLower(t.Title+" "+t.Artist), q) {
				out = append(out, t)
			}
		}
		js(w, map[string]any{"tracks": out})
	})
	mux.HandleFunc("POST /api/warm", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	find := func(id string) *fakeTrack {
		for _, t := range d.tracks {
			if t.ID == id {
				return t
			}
		}
		return nil
	}
	body := func(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }
	status := func(w http.ResponseWriter) { d.mu.Lock(); s := d.statusLocked(); d.mu.Unlock(); d.poke(); js(w, s) }
	mux.HandleFunc("POST /api/play", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			ID string `json:"id"`
		}
		if err := body(r, &b); err != nil || find(b.ID) == nil {
			bad(w, 404, "no track with that ID")
			return
		}
		d.mu.Lock()
		if d.cur != nil {
			d.hist = append(d.hist, d.cur)
		}
		d.cur, d.pos, d.paused, d.playN, d.peerB, d.originB = find(b.ID), 0, false, d.playN+1, 0, 0
		d.mu.Unlock()
		status(w)
	})
	mux.HandleFunc("POST /api/pause", func(w http.ResponseWriter, r *http.Request) { d.mu.Lock(); d.paused = true; d.mu.Unlock(); status(w) })
	mux.HandleFunc("POST /api/resume", func(w http.ResponseWriter, r *http.Request) { d.mu.Lock(); d.paused = false; d.mu.Unlock(); status(w) })
	mux.HandleFunc("POST /api/seek", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			P int64 `json:"position_ms"`
		}
		body(r, &b)
		d.mu.Lock()
		if d.cur == nil || b.P >= d.cur.DurationMS {
			d.mu.Unlock()
			bad(w, 400, "seek past the end of the track")
			return
		}
		d.pos = b.P
		d.mu.Unlock()
		status(w)
	})
	mux.HandleFunc("POST /api/next", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		if len(d.queue) > 0 {
			if d.cur != nil {
				d.hist = append(d.hist, d.cur)
			}
			d.cur, d.queue, d.pos, d.playN = d.queue[0], d.queue[1:], 0, d.playN+1
		}
		d.mu.Unlock()
		status(w)
	})
	mux.HandleFunc("POST /api/previous", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		if len(d.hist) > 0 {
			d.queue = append([]*fakeTrack{d.cur}, d.queue...)
			d.cur, d.hist, d.pos, d.playN = d.hist[len(d.hist)-1], d.hist[:len(d.hist)-1], 0, d.playN+1
		}
		d.mu.Unlock()
		status(w)
	})
	mux.HandleFunc("POST /api/player", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			P      int64 `json:"position_ms"`
			Paused bool  `json:"paused"`
		}
		body(r, &b)
		d.mu.Lock()
		d.pos, d.paused = b.P, b.Paused
		d.mu.Unlock()
		w.WriteHeader(204)
	})
	queue := func(w http.ResponseWriter) {
		d.mu.Lock()
		q := append([]*fakeTrack{}, d.queue...)
		d.mu.Unlock()
		js(w, map[string]any{"items": q})
	}
	mux.HandleFunc("GET /api/queue", func(w http.ResponseWriter, r *http.Request) { queue(w) })
	mux.HandleFunc("POST /api/queue", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			ID string `json:"id"`
		}
		body(r, &b)
		d.mu.Lock()
		d.queue = append(d.queue, find(b.ID))
		d.mu.Unlock()
		queue(w)
	})
	mux.HandleFunc("DELETE /api/queue", func(w http.ResponseWriter, r *http.Request) { d.mu.Lock(); d.queue = nil; d.mu.Unlock(); queue(w) })
	mux.HandleFunc("DELETE /api/queue/{i}", func(w http.ResponseWriter, r *http.Request) {
		var i int
		fmt.Sscan(r.PathValue("i"), &i)
		d.mu.Lock()
		if i >= 0 && i < len(d.queue) {
			d.queue = append(d.queue[:i], d.queue[i+1:]...)
		}
		d.mu.Unlock()
		queue(w)
	})
	mux.HandleFunc("POST /api/queue/move", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ From, To int }
		body(r, &b)
		d.mu.Lock()
		if b.From >= 0 && b.From < len(d.queue) && b.To >= 0 && b.To < len(d.queue) {
			t := d.queue[b.From]
			d.queue = append(d.queue[:b.From], d.queue[b.From+1:]...)
			d.queue = append(d.queue[:b.To], append([]*fakeTrack{t}, d.queue[b.To:]...)...)
		}
		d.mu.Unlock()
		queue(w)
	})
	mux.HandleFunc("POST /api/sharing", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ On bool }
		body(r, &b)
		d.mu.Lock()
		d.sharing = b.On
		d.mu.Unlock()
		status(w)
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) { status(w) })
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			d.mu.Lock()
			if d.cur != nil && !d.paused {
				d.peerB += 40000
				if d.originB < 60000 {
					d.originB += 20000
				}
			}
			s := d.statusLocked()
			d.mu.Unlock()
			b, _ := json.Marshal(s)
			fmt.Fprintf(w, "event: status\ndata: %s\n\n", b)
			fl.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-d.stopping:
				return
			case <-tick.C:
			case <-d.changed:
			}
		}
	})
	mux.HandleFunc("GET /audio/current", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		cur := d.cur
		d.mu.Unlock()
		if cur == nil {
			bad(w, 404, "nothing playing")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.ServeContent(w, r, "a.wav", time.Time{}, bytes.NewReader(cur.wav))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { close(d.stopping); srv.Close() })
	return srv.URL
}

func (d *fakeDaemon) poke() {
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

func (d *fakeDaemon) statusLocked() map[string]any {
	s := map[string]any{"state": "stopped", "track": nil, "position_ms": 0, "duration_ms": 0, "buffered_ahead_ms": 0,
		"buffered": []any{}, "audio_url": "", "play": map[string]any{"start_ms": nil, "bytes": map[string]int64{"cache": 0, "peer": 0, "origin": 0}},
		"peers": 4, "sharing": d.sharing, "tracker_reachable": true, "cache": map[string]int64{"used_bytes": 48_000_000, "max_bytes": 1_000_000_000},
		"upload_bps": 12000, "download_bps": 180000, "error": ""}
	if d.cur != nil {
		s["state"] = map[bool]string{true: "paused", false: "playing"}[d.paused]
		s["track"] = d.cur
		s["position_ms"] = d.pos
		s["duration_ms"] = d.cur.DurationMS
		end := min(d.cur.DurationMS, d.pos+15000)
		s["buffered_ahead_ms"] = end - d.pos
		s["buffered"] = []map[string]int64{{"start_ms": 0, "end_ms": end}}
		s["audio_url"] = fmt.Sprintf("/audio/current?t=play%d", d.playN)
		s["play"] = map[string]any{"start_ms": 84, "bytes": map[string]int64{"cache": 0, "peer": d.peerB, "origin": d.originB}}
	}
	return s
}

func startPlayer(t *testing.T) player {
	base := startFakeDaemon(t)
	return player{Base: base, LoginURL: base + "/login?token=dev", Search: "e"}
}
