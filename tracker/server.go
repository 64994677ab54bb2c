package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/store"
)

// Options configure a Server. Zero values take the documented defaults;
// New rejects nonsense.
type Options struct {
	// Store persists everything; required. The Server does not close it.
	Store store.Store
	// Clock tells the time for expiries and rate limits; nil means the wall
	// clock.
	Clock clock.Clock
	// Logger receives request and audit logs; nil discards them.
	Logger *slog.Logger
	// Registry receives the tracker's metrics (chorus_tracker_*), served
	// at /metrics; nil means a new private registry (never the global
	// one) holding the Go and process collectors too. New fails if the
	// registry already holds the tracker's metrics, e.g. from another
	// Server.
	Registry *prometheus.Registry
	// Argon2 are the cost parameters of new password hashes; zero fields
	// mean argon2id t=2, m=64 MiB, p=2. Tests use cheap ones.
	Argon2 Argon2Params
	// AccessTTL is an access token's lifetime; zero means 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is a refresh token's lifetime; zero means 30 days.
	RefreshTTL time.Duration
	// TicketTTL is an admission ticket's lifetime; zero means 1 hour.
	TicketTTL time.Duration
	// AnnounceTTL caps how long a bootstrap announcement is listed (it is
	// also never listed past its ticket's expiry); zero means 10 minutes.
	AnnounceTTL time.Duration
	// KeyRefresh is how stale the signing keys a ticket is signed with
	// may be: a ticket request re-reads the key set when it was read
	// longer ago, so a key rotated by another tracker on the same store is
	// used within KeyRefresh; zero means 1 s.
	KeyRefresh time.Duration
	// SweepInterval is how often expired sessions, tickets and
	// announcements are deleted; zero means 10 minutes.
	SweepInterval time.Duration
	// Origins are the origin servers' base URLs (http or https), listed by
	// GET /v1/network. More can be added with AddOrigin.
	Origins []string
	// LoginPolicy throttles failed logins (per account and network, per
	// network, per account); zero fields take its defaults.
	LoginPolicy LoginPolicy
	// TrustedProxies are the networks of the reverse proxies and load
	// balancers in front of the tracker: only from a peer in one of them is
	// X-Forwarded-For believed (see clientAddr). Empty: the header is
	// always ignored.
	TrustedProxies []netip.Prefix
	// ChunkSize is the chunk size for ingest; zero means catalog.ChunkSize.
	ChunkSize int
	// IngestSecret, at least 32 bytes, derives each track's key from its
	// source's hash (see Ingest), so an ingest interrupted and run again
	// writes the same chunks. It is part of what a backup must keep. Nil
	// means a random key per ingest attempt.
	IngestSecret []byte
}

// Durations' upper bounds, to catch unit mistakes.
const maxTTL = 365 * 24 * time.Hour

func (o *Options) setDefaults() {
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	o.Argon2 = o.Argon2.withDefaults()
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.AccessTTL, 15*time.Minute)
	def(&o.RefreshTTL, 30*24*time.Hour)
	def(&o.TicketTTL, time.Hour)
	def(&o.AnnounceTTL, 10*time.Minute)
	def(&o.SweepInterval, 10*time.Minute)
	def(&o.KeyRefresh, time.Second)
	o.LoginPolicy = o.LoginPolicy.withDefaults()
}

func (o *Options) validate() error {
	if o.Store == nil {
		return fmt.Errorf("%w: no Store", ErrOptions)
	}
	for name, d := range map[string]time.Duration{
		"AccessTTL": o.AccessTTL, "RefreshTTL": o.RefreshTTL, "TicketTTL": o.TicketTTL,
		"AnnounceTTL": o.AnnounceTTL, "SweepInterval": o.SweepInterval,
	} {
		if d < time.Second || d > maxTTL {
			return fmt.Errorf("%w: %s %v outside [1s, 1y]", ErrOptions, name, d)
		}
	}
	if o.KeyRefresh < 0 || o.KeyRefresh > time.Hour {
		return fmt.Errorf("%w: KeyRefresh %v outside (0, 1h]", ErrOptions, o.KeyRefresh)
	}
	if o.RefreshTTL < o.AccessTTL {
		return fmt.Errorf("%w: RefreshTTL %v shorter than AccessTTL %v", ErrOptions, o.RefreshTTL, o.AccessTTL)
	}
	if err := o.Argon2.validate(); err != nil {
		return err
	}
	if err := o.LoginPolicy.validate(); err != nil {
		return err
	}
	for _, p := range o.TrustedProxies {
		if !p.IsValid() {
			return fmt.Errorf("%w: trusted proxy network %v", ErrOptions, p)
		}
	}
	for _, u := range o.Origins {
		if err := checkOrigin(u); err != nil {
			return err
		}
	}
	if o.ChunkSize < 0 {
		return fmt.Errorf("%w: ChunkSize %d", ErrOptions, o.ChunkSize)
	}
	if o.IngestSecret != nil && len(o.IngestSecret) < minIngestSecret {
		return fmt.Errorf("%w: IngestSecret of %d bytes; want at least %d", ErrOptions, len(o.IngestSecret), minIngestSecret)
	}
	return nil
}

func checkOrigin(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: origin %q is not an http(s) base URL", ErrOptions, raw)
	}
	return nil
}

// Route is one endpoint of the tracker's API, as registered on its mux.
type Route struct {
	Method  string // "GET" or "POST"
	Pattern string // path pattern, e.g. "/v1/tracks/{id}/manifest"
	Public  bool   // true when no access token is needed
	handler http.HandlerFunc
	// ownSession: the handler checks the access token itself (the track
	// key, whose session and key come from one store read), so the mux
	// does not wrap it in requireSession. Public is false all the same.
	ownSession bool
}

// MuxPattern is the route's http.ServeMux pattern, "METHOD /path".
func (r Route) MuxPattern() string { return r.Method + " " + r.Pattern }

// Server is the tracker: an http.Handler serving the API in protocol.
type Server struct {
	store store.Store
	clock clock.Clock
	log   *slog.Logger
	opts  Options
	keys  *Keyring
	// attempts limits login attempts per network in this process.
	attempts *attemptLimiter
	// audit judges key requests and writes their audit rows, batched
	// (store.GrantKeys): the key route's only store call.
	audit   *groupCommit[store.KeyGrant, store.KeyGrantResult]
	tickets *groupCommit[store.TicketRecord, struct{}]
	metrics *metrics
	routes  []Route
	handler http.Handler
	// dummyHash is verified against for unknown accounts, so a login takes
	// as long whether or not the account exists.
	dummyHash string

	mu        sync.Mutex // guards the fields below
	origins   []string
	servers   []string // always-on DHT servers, first in the bootstrap list
	sweep     clock.Timer
	closed    bool
	ingesting map[string]chan struct{} // source hash -> closed when its ingest ends
}

// New builds a Server: it validates opts, loads (or on first start creates)
// the signing key, and registers the routes and metrics.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	keys, err := openKeyring(ctx, opts.Store, opts.Clock)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	dummy, err := hashPassword("chorus-dummy-password", opts.Argon2)
	if err != nil {
		return nil, err
	}
	s := &Server{
		store: opts.Store, clock: opts.Clock, log: opts.Logger, opts: opts,
		keys: keys, attempts: newAttemptLimiter(opts.LoginPolicy), metrics: m, dummyHash: dummy,
		origins: slices.Clone(opts.Origins),
	}
	s.routes = []Route{
		{Method: http.MethodPost, Pattern: protocol.PathLogin, Public: true, handler: s.handleLogin},
		{Method: http.MethodPost, Pattern: protocol.PathRenew, Public: true, handler: s.handleRenew},
		{Method: http.MethodPost, Pattern: protocol.PathLogout, handler: s.handleLogout},
		{Method: http.MethodGet, Pattern: protocol.PathKeys, Public: true, handler: s.handleKeys},
		{Method: http.MethodGet, Pattern: protocol.PathTracks, handler: s.handleTracks},
		{Method: http.MethodGet, Pattern: protocol.PathSearch, handler: s.handleSearch},
		{Method: http.MethodGet, Pattern: protocol.PathManifest, handler: s.handleManifest},
		{Method: http.MethodGet, Pattern: protocol.PathTrackKey, handler: s.handleTrackKey, ownSession: true},
		{Method: http.MethodPost, Pattern: protocol.PathStart, Public: true, handler: s.handleStart},
		{Method: http.MethodGet, Pattern: protocol.PathNetwork, handler: s.handleNetwork},
		{Method: http.MethodPost, Pattern: protocol.PathTicket, handler: s.handleTicket},
		{Method: http.MethodPost, Pattern: protocol.PathAnnounce, handler: s.handleAnnounce},
		{Method: http.MethodGet, Pattern: protocol.PathHealth, Public: true, handler: s.handleHealth},
		{Method: http.MethodGet, Pattern: protocol.PathMetrics, Public: true,
			handler: promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{}).ServeHTTP},
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		h := rt.handler
		if !rt.Public && !rt.ownSession {
			h = s.requireSession(h)
		}
		mux.Handle(rt.MuxPattern(), s.instrument(rt.Pattern, h))
	}
	// A known path with the wrong method: 405 with Allow, as JSON.
	allowed := map[string][]string{}
	for _, rt := range s.routes {
		allowed[rt.Pattern] = append(allowed[rt.Pattern], rt.Method)
	}
	for path, methods := range allowed {
		allow := strings.Join(methods, ", ")
		mux.Handle(path, s.instrument("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: protocol.CodeBadRequest,
				msg: "method not allowed; use " + allow})
		})))
	}
	mux.Handle("/", s.instrument("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, notFound("no such endpoint"))
	})))
	s.handler = s.recoverer(mux)
	s.audit = newGroupCommit("key grants", opts.Store.GrantKeys, func(n int) { m.auditBatch.Observe(float64(n)) })
	s.tickets = newGroupCommit("tickets", noResults(opts.Store.PutTickets), func(n int) { m.ticketBatch.Observe(float64(n)) })
	s.mu.Lock()
	s.sweep = s.clock.AfterFunc(opts.SweepInterval, s.sweepExpired)
	s.mu.Unlock()
	return s, nil
}

// Routes lists every API endpoint, from the same table the mux is built
// from.
func (s *Server) Routes() []Route {
	out := make([]Route, len(s.routes))
	for i, r := range s.routes {
		r.handler = nil
		out[i] = r
	}
	return out
}

// Keyring returns the server's signing keys.
func (s *Server) Keyring() *Keyring { return s.keys }

// Registry returns the registry the server's metrics live in.
func (s *Server) Registry() *prometheus.Registry { return s.opts.Registry }

// RotateKey rotates the signing key: see Keyring.Rotate.
func (s *Server) RotateKey(ctx context.Context) (string, error) {
	id, err := s.keys.Rotate(ctx)
	if err == nil {
		s.log.InfoContext(ctx, "signing key rotated", slog.String("key_id", id))
	}
	return id, err
}

// AddOrigin adds an origin base URL to those GET /v1/network lists.
func (s *Server) AddOrigin(raw string) error {
	if err := checkOrigin(raw); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.origins, raw) {
		s.origins = append(s.origins, raw)
	}
	return nil
}

// Close stops the server's background sweeping and writes the audit
// entries and ticket records still queued; call it after the HTTP server mounting the handler
// has shut down. It does not close the Store, which the caller owns.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.sweep != nil {
		s.sweep.Stop()
	}
	s.mu.Unlock()
	s.audit.close()
	s.tickets.close()
	return nil
}

// sweepExpired deletes expired sessions, tickets and announcements, then
// re-arms itself.
func (s *Server) sweepExpired() {
	ctx := context.Background()
	now := s.clock.Now()
	if _, err := s.store.DeleteExpiredSessions(ctx, now); err != nil && !errors.Is(err, store.ErrClosed) {
		s.log.Warn("sweep expired sessions", slog.Any("err", err))
	}
	if err := s.store.DeleteExpired(ctx, now); err != nil && !errors.Is(err, store.ErrClosed) {
		s.log.Warn("sweep expired tickets", slog.Any("err", err))
	}
	// Pick up keys rotated by another process, so tickets are signed by
	// the current key.
	if err := s.keys.reload(ctx); err != nil && !errors.Is(err, store.ErrClosed) {
		s.log.Warn("reload signing keys", slog.Any("err", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.sweep = s.clock.AfterFunc(s.opts.SweepInterval, s.sweepExpired)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times requests by route (the path pattern, or
// "other"), method and status code.
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		start := s.clock.Now()
		defer func() {
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			if p := recover(); p != nil {
				code = http.StatusInternalServerError
				defer panic(p) // let recoverer answer and log it
			}
			s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
			s.metrics.latency.WithLabelValues(route, r.Method).Observe(s.clock.Now().Sub(start).Seconds())
		}()
		h.ServeHTTP(sw, r)
	})
}

// recoverer turns a panic into a logged 500.
func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil || p == http.ErrAbortHandler {
				if p != nil {
					panic(p)
				}
				return
			}
			s.log.ErrorContext(r.Context(), "handler panic", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Any("panic", p))
			s.metrics.panics.Inc()
			writeJSON(w, http.StatusInternalServerError, protocol.Error{Error: "internal error", Code: protocol.CodeInternal})
		}()
		h.ServeHTTP(w, r)
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok") //nolint:errcheck // the client may have gone
}

func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	// Another process on the same data directory (`chorus keys rotate`,
	// or an ingest signing with a newer key) may have added a key: read
	// the set afresh. Clients ask rarely (first login, unknown key ID).
	if err := s.keys.reload(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "reload signing keys", slog.Any("err", err))
	}
	writeJSON(w, http.StatusOK, s.keys.Published())
}
