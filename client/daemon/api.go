package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chorus-music/chorus/client/web"
)

// Route is one entry of the API's route table.
type Route struct {
	// Pattern is the http.ServeMux pattern, e.g. "GET /api/tracks/{id}".
	Pattern string
	// Example is a concrete path that matches it, for tests that walk the
	// table.
	Example string
	handler http.HandlerFunc
}

// Routes returns the API's route table.
func (d *Daemon) Routes() []Route { return append([]Route(nil), d.routes...) }

// maxBody bounds a JSON request body.
const maxBody = 64 << 10

// CookieName is the browser session cookie.
const CookieName = "chorus_session"

func (d *Daemon) newMux() (*http.ServeMux, []Route) {
	routes := []Route{
		{"GET /login", "/login?token=x", d.handleLogin},
		{"GET /api/search", "/api/search?q=a", d.handleSearch},
		{"GET /api/tracks/{id}", "/api/tracks/x", d.handleTrack},
		{"POST /api/warm", "/api/warm", d.handleWarm},
		{"POST /api/play", "/api/play", d.handlePlay},
		{"POST /api/pause", "/api/pause", d.control(func(ctx context.Context) error { return d.Pause() })},
		{"POST /api/resume", "/api/resume", d.control(d.Resume)},
		{"POST /api/seek", "/api/seek", d.handleSeek},
		{"POST /api/next", "/api/next", d.control(d.Next)},
		{"POST /api/previous", "/api/previous", d.control(d.Previous)},
		{"POST /api/player", "/api/player", d.handlePlayer},
		{"GET /api/queue", "/api/queue", d.handleQueue},
		{"POST /api/queue", "/api/queue", d.handleQueueAdd},
		{"DELETE /api/queue/{index}", "/api/queue/0", d.handleQueueRemove},
		{"POST /api/queue/move", "/api/queue/move", d.handleQueueMove},
		{"DELETE /api/queue", "/api/queue", d.handleQueueClear},
		{"POST /api/sharing", "/api/sharing", d.handleSharing},
		{"GET /api/status", "/api/status", d.handleStatus},
		{"GET /api/events", "/api/events", d.handleEvents},
		{"POST /api/login-link", "/api/login-link", d.handleLoginLink},
		{"GET /audio/current", "/audio/current", d.handleAudio},
		{"GET /metrics", "/metrics", d.handleMetrics},
		{"GET /", "/", web.Handler().ServeHTTP},
	}
	mux := http.NewServeMux()
	for _, r := range routes {
		route := r.Pattern
		h := r.handler
		mux.HandleFunc(r.Pattern, func(w http.ResponseWriter, req *http.Request) {
			cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
			h(cw, req)
			d.metrics.requests.WithLabelValues(route, strconv.Itoa(cw.code)).Inc()
		})
	}
	return mux, routes
}

// codeWriter remembers the status code, for the metrics.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher.
func (w *codeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// allowedHosts lists the Host headers the API answers: its own address,
// and localhost at its port when it listens on loopback.
func allowedHosts(addr net.Addr) map[string]bool {
	hosts := map[string]bool{addr.String(): true}
	if ta, ok := addr.(*net.TCPAddr); ok {
		port := strconv.Itoa(ta.Port)
		if ta.IP.IsLoopback() {
			hosts[net.JoinHostPort("localhost", port)] = true
			hosts[net.JoinHostPort("127.0.0.1", port)] = true
			hosts[net.JoinHostPort("::1", port)] = true
		}
	}
	return hosts
}

// handler wraps the mux: Host check (DNS rebinding), cross-site refusal,
// then the API key (header, cookie, or the audio token).
func (d *Daemon) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.hosts[strings.ToLower(r.Host)] {
			writeError(w, http.StatusForbidden, fmt.Errorf("host %q is not this daemon's address; use %s", r.Host, d.URL()))
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			writeError(w, http.StatusForbidden, errors.New("cross-site requests are refused"))
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Scheme != "http" || !d.hosts[strings.ToLower(u.Host)] {
				writeError(w, http.StatusForbidden, fmt.Errorf("cross-site request from origin %q refused", o))
				return
			}
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if !d.authorized(r) {
			if r.URL.Path == "/login" {
				writeError(w, http.StatusUnauthorized, errors.New("this login link was used already or has expired: get a new one with `chorus ctl open`"))
				return
			}
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong API key: send X-API-Key (the key is in the config directory's api-key file), or open the login link the daemon prints"))
			return
		}
		d.mux.ServeHTTP(w, r)
	})
}

// authorized checks the key, the cookie, a one-time login token (on
// /login) or a per-play token (on /audio/current).
func (d *Daemon) authorized(r *http.Request) bool {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return equalSecret(k, d.apiKey)
	}
	if c, err := r.Cookie(CookieName); err == nil && equalSecret(c.Value, d.cookie) {
		return true
	}
	switch r.URL.Path {
	case "/login":
		return d.takeLoginToken(r.URL.Query().Get("token"))
	case "/audio/current":
		return r.URL.Query().Get("t") != "" // checked against the play in handleAudio
	}
	return false
}

func (d *Daemon) takeLoginToken(tok string) bool {
	if tok == "" {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, exp := range d.logins {
		if equalSecret(t, tok) {
			delete(d.logins, t)
			return d.clock.Now().Before(exp)
		}
	}
	return false
}

// errorBody is every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorBody{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers err with the status its class calls for.
func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrOutOfRange):
		code = http.StatusBadRequest
	case errors.Is(err, ErrUnknownTrack):
		code = http.StatusNotFound
	case errors.Is(err, ErrNothingPlaying):
		code = http.StatusConflict
	case errors.Is(err, ErrNotReady), errors.Is(err, ErrTrackerUnreachable), errors.Is(err, ErrNotLoggedIn):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	writeError(w, code, err)
}

// decode reads a JSON body into v, refusing unknown fields and trailing
// data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: the body is not the expected JSON: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON body", ErrBadRequest)
	}
	return nil
}

// reqCtx bounds a control request's work.
func reqCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 20*time.Second)
}

func (d *Daemon) handleLogin(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: d.cookie, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: 400 * 24 * 3600,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (d *Daemon) handleLoginLink(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"url": d.LoginLink()})
}

// searchLimit bounds a search's answer; the first few results are looked
// up in the DHT at once, as tracks on screen.
const (
	searchLimit = 50
	searchWarm  = 5
	// warmPrepare is how many of a warm call's tracks get their manifest
	// and key fetched ahead.
	warmPrepare = 10
)

func (d *Daemon) handleSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		fail(w, fmt.Errorf("%w: search needs ?q=WORDS", ErrBadRequest))
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	if _, err := d.readyClient(); err != nil {
		fail(w, err)
		return
	}
	l, err := d.tracker.Search(ctx, q, searchLimit)
	if err != nil {
		fail(w, fmt.Errorf("%w: search: %w", ErrTrackerUnreachable, err))
		return
	}
	out := struct {
		Tracks []Track `json:"tracks"`
	}{Tracks: []Track{}}
	for i, t := range l.Tracks {
		out.Tracks = append(out.Tracks, trackFromSummary(t))
		if i < searchWarm {
			d.lookup(t.ID)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) lookup(id string) {
	if c, err := d.readyClient(); err == nil {
		_ = c.Lookup(id)
	}
}

func (d *Daemon) handleTrack(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	if _, err := d.readyClient(); err != nil {
		fail(w, err)
		return
	}
	id := r.PathValue("id")
	m, err := d.manifest(ctx, id)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, trackFromManifest(id, m))
}

func (d *Daemon) handleWarm(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IDs []string `json:"ids"`
	}
	if err := decode(r, &body); err != nil {
		fail(w, err)
		return
	}
	if len(body.IDs) > 100 {
		fail(w, fmt.Errorf("%w: at most 100 ids at once", ErrBadRequest))
		return
	}
	c, err := d.readyClient()
	if err != nil {
		fail(w, err)
		return
	}
	for i, id := range body.IDs {
		if err := c.Lookup(id); err != nil {
			fail(w, err)
			return
		}
		if i < warmPrepare {
			// Manifest and key too, so a press of play needs no tracker
			// round trip.
			go func() {
				ctx, cancel := context.WithTimeout(d.ctx, 20*time.Second)
				defer cancel()
				if _, err := d.manifest(ctx, id); err != nil {
					d.log.Debug("warm: manifest", "track", id, "err", err)
					return
				}
				if err := c.Prepare(ctx, id); err != nil {
					d.log.Debug("warm: prepare", "track", id, "err", err)
				}
			}()
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (d *Daemon) status(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, d.Status())
}

func (d *Daemon) handlePlay(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID         string `json:"id"`
		PositionMS int64  `json:"position_ms"`
	}
	if err := decode(r, &body); err != nil {
		fail(w, err)
		return
	}
	if body.ID == "" {
		fail(w, fmt.Errorf("%w: play needs {\"id\": TRACK_ID}", ErrBadRequest))
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	if err := d.Play(ctx, body.ID, body.PositionMS); err != nil {
		fail(w, err)
		return
	}
	d.status(w)
}

func (d *Daemon) control(f func(ctx context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := reqCtx(r)
		defer cancel()
		if err := f(ctx); err != nil {
			fail(w, err)
			return
		}
		d.status(w)
	}
}

func (d *Daemon) handleSeek(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PositionMS *int64 `json:"position_ms"`
	}
	if err := decode(r, &body); err != nil {
		fail(w, err)
		return
	}
	if body.PositionMS == nil {
		fail(w, fmt.Errorf("%w: seek needs {\"position_ms\": N}", ErrBadRequest))
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	if err := d.Seek(ctx, *body.PositionMS); err != nil {
		fail(w, err)
		return
	}
	d.status(w)
}

func (d *Daemon) handlePlayer(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PositionMS *int64 `json:"position_ms"`
		Paused     bool   `json:"paused"`
		// ID, when given, is the track the report is about: a report that
		// arrives after the track changed is refused (409), not applied to
		// the next track.
		ID string `json:"id"`
	}
	if err := decode(r, &body); err != nil {
		fail(w, err)
		return
	}
	if body.PositionMS == nil {
		fail(w, fmt.Errorf("%w: player needs {\"position_ms\": N, \"paused\": bool}", ErrBadRequest))
		return
	}
	if err := d.Heard(body.ID, *body.PositionMS, body.Paused); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type queueBody struct {
	Items []Track `json:"items"`
}

func (d *Daemon) handleQueue(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, queueBody{Items: d.Queue()})
}

func (d *Daemon) handleQueueAdd(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID string `json:"id"`
	}
	if err := decode(r, &body); err != nil {
		fail(w, err)
		return
	}
	if body.ID == "" {
		fail(w, fmt.Errorf("%w: queue add needs {\"id\": TRACK_ID}", ErrBadRequest))
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	q, err := d.QueueAdd(ctx, body.ID)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, queueBody{Items: q})
}

func (d *Daemon) handleQueueRemove(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.PathValue("index"))
	if err != nil {
		fail(w, fmt.Errorf("%w: queue index %q is not a number", ErrBadRequest, r.PathValue("index")))
		return
	}
	q, err := d.QueueRemove(i)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, queueBody{Items: q})
}

func (d *Daemon) handleQueueMove(w http.ResponseWriter, r *http.Request) {
	var body struct {
		From *int `json:"from"`
		To   *int `json:"to"`
	}
	if err := decode(r, &body); err != nil {
		fail(w, err)
		return
	}
	if body.From == nil || body.To == nil {
		fail(w, fmt.Errorf("%w: move needs {\"from\": i, \"to\": j}", ErrBadRequest))
		return
	}
	q, err := d.QueueMove(*body.From, *body.To)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, queueBody{Items: q})
}

func (d *Daemon) handleQueueClear(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, queueBody{Items: d.QueueClear()})
}

func (d *Daemon) handleSharing(w http.ResponseWriter, r *http.Request) {
	var body struct {
		On *bool `json:"on"`
	}
	if err := decode(r, &body); err != nil {
		fail(w, err)
		return
	}
	if body.On == nil {
		fail(w, fmt.Errorf("%w: sharing needs {\"on\": bool}", ErrBadRequest))
		return
	}
	if err := d.SetSharing(*body.On); err != nil {
		fail(w, err)
		return
	}
	d.status(w)
}

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) { d.status(w) }

func (d *Daemon) handleMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// SSE timing.
const (
	eventEvery = time.Second      // a status while playing
	pingEvery  = 15 * time.Second // a comment heartbeat
)

func (d *Daemon) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// No write deadline on this route: the stream lives as long as the
	// page; the heartbeat finds dead connections instead.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		d.log.Debug("events: cannot lift the write deadline", "err", err)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	changed, unsub := d.events.subscribe()
	defer unsub()
	tick := make(chan struct{}, 1)
	ping := make(chan struct{}, 1)
	var every func(time.Duration, chan struct{})
	stopped := make(chan struct{})
	defer close(stopped)
	every = func(dur time.Duration, ch chan struct{}) {
		d.clock.AfterFunc(dur, func() {
			select {
			case <-stopped:
				return
			case ch <- struct{}{}:
			default:
			}
			every(dur, ch)
		})
	}
	every(eventEvery, tick)
	every(pingEvery, ping)
	send := func() error {
		b, err := json.Marshal(d.Status())
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: status\ndata: %s\n\n", b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if send() != nil {
		return
	}
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-changed:
			err = send()
		case <-tick:
			if st := d.playingState(); st {
				err = send()
			}
		case <-ping:
			if _, err = io.WriteString(w, ": ping\n\n"); err == nil {
				err = rc.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// playingState reports whether a track plays (its position moves).
func (d *Daemon) playingState() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur != nil && !d.cur.paused && d.cur.pb != nil
}
