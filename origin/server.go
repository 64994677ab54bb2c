package origin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/quic-go/quic-go/http3"

	"github.com/chorus-music/chorus/protocol"
)

// Response headers of every chunk.
const (
	ChunkContentType  = "application/octet-stream"
	ChunkCacheControl = "public, max-age=31536000, immutable"
)

// altSvcMaxAge is how long (seconds) a client may remember the h3 offer.
const altSvcMaxAge = 86400

// DefaultShutdownTimeout is the grace Serve gives running requests when its
// context ends, if Options.ShutdownTimeout is zero.
const DefaultShutdownTimeout = 10 * time.Second

// maxCIDLen bounds the CID part of a chunk path before it is decoded.
const maxCIDLen = 128

// ChunkStore is what a Server reads chunks from. *DirStore implements it.
// Open fails with an error wrapping ErrNotFound for a chunk it does not
// hold, and with one wrapping ErrBadCID for a CID that cannot name a chunk.
type ChunkStore interface {
	Open(c cid.Cid) (*os.File, os.FileInfo, error)
}

var _ ChunkStore = (*DirStore)(nil)

// Options configure a Server.
type Options struct {
	// Store holds the chunks served under /chunks/. Required.
	Store ChunkStore
	// TLS holds the server certificate (Certificates, GetCertificate or
	// GetConfigForClient). Required. Its NextProtos are ignored: Serve
	// offers "h3" on UDP and "h2", "http/1.1" on TCP. ServerTLSConfig
	// builds one.
	TLS *tls.Config
	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger
	// Registry receives the server's metrics and is what /metrics serves.
	// Nil means a new registry of the server's own, with Go runtime and
	// process collectors. Pass a shared one when Extra has metrics too.
	Registry *prometheus.Registry
	// Extra, if not nil, answers every path other than /chunks/...,
	// /metrics and /healthz (so one process can be tracker and origin).
	// Nil means those paths answer 404.
	Extra http.Handler
	// ShutdownTimeout is how long Serve lets running requests finish once
	// its context ends before it cuts connections. Zero means
	// DefaultShutdownTimeout; negative is invalid.
	ShutdownTimeout time.Duration
}

// Server serves chunks by CID over HTTP/3, HTTP/2 and HTTP/1.1.
type Server struct {
	store    ChunkStore
	tls      *tls.Config
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *metrics
	grace    time.Duration
	handler  http.Handler

	mu  sync.Mutex // guards the fields below
	url string     // base URL of the sockets of the latest Serve
}

// New validates opts and builds a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("%w: no Store", ErrBadOptions)
	}
	if opts.TLS == nil {
		return nil, fmt.Errorf("%w: no TLS config", ErrBadOptions)
	}
	if len(opts.TLS.Certificates) == 0 && opts.TLS.GetCertificate == nil && opts.TLS.GetConfigForClient == nil {
		return nil, fmt.Errorf("%w: TLS config has no certificate", ErrBadOptions)
	}
	if opts.ShutdownTimeout < 0 {
		return nil, fmt.Errorf("%w: negative ShutdownTimeout %v", ErrBadOptions, opts.ShutdownTimeout)
	}
	s := &Server{
		store:    opts.Store,
		tls:      opts.TLS.Clone(),
		log:      opts.Logger,
		registry: opts.Registry,
		grace:    opts.ShutdownTimeout,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.grace == 0 {
		s.grace = DefaultShutdownTimeout
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
		s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m, err := newMetrics(s.registry)
	if err != nil {
		return nil, fmt.Errorf("origin: register metrics: %w", err)
	}
	s.metrics = m

	extra := opts.Extra
	if extra == nil {
		extra = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, protocol.CodeNotFound, "no such path")
		})
	}
	mux := http.NewServeMux()
	mux.Handle(protocol.PathChunkBase, m.instrument("chunks", http.HandlerFunc(s.serveChunk)))
	mux.Handle(protocol.PathMetrics, m.instrument("metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})))
	mux.Handle(protocol.PathHealth, m.instrument("healthz", http.HandlerFunc(serveHealth)))
	mux.Handle("/", m.instrument("extra", extra))
	s.handler = mux
	return s, nil
}

// Handler returns the server's HTTP handler (chunks, metrics, health and
// Extra), for mounting in tests or behind another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry returns the registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// URL returns the base URL ("https://host:port") of the sockets the latest
// Serve call was given, or "" before Serve is called.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Serve runs HTTP/3 on udp and HTTPS (HTTP/1.1 and HTTP/2 by ALPN) on tcp
// until ctx is done, then shuts both down gracefully (see
// Options.ShutdownTimeout) and returns nil. Either socket may be nil, not
// both. Responses on TCP carry an Alt-Svc header offering h3 on udp's port.
// Serve takes ownership of both sockets and closes them before returning.
// If one side fails on its own, Serve stops the other and returns the error.
func (s *Server) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	if udp == nil && tcp == nil {
		return fmt.Errorf("%w: Serve needs a UDP or a TCP socket", ErrBadOptions)
	}
	s.mu.Lock()
	if tcp != nil {
		s.url = baseURL(tcp.Addr())
	} else {
		s.url = baseURL(udp.LocalAddr())
	}
	s.mu.Unlock()

	errc := make(chan error, 2)
	running := 0
	var h3 *http3.Server
	var hs *http.Server
	if udp != nil {
		h3 = &http3.Server{
			Handler:   s.handler,
			TLSConfig: s.tls,
			Logger:    s.log,
		}
		running++
		go func() { errc <- h3.Serve(udp) }()
	}
	if tcp != nil {
		handler := s.handler
		if udp != nil {
			if port := portOf(udp.LocalAddr()); port != 0 {
				handler = withAltSvc(handler, fmt.Sprintf(`%s=":%d"; ma=%d`, http3.NextProtoH3, port, altSvcMaxAge))
			}
		}
		tlsConf := s.tls.Clone()
		tlsConf.NextProtos = nil // ServeTLS sets h2 and http/1.1 from Protocols
		var protos http.Protocols
		protos.SetHTTP1(true)
		protos.SetHTTP2(true)
		hs = &http.Server{
			Handler:           handler,
			TLSConfig:         tlsConf,
			Protocols:         &protos,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		running++
		go func() { errc <- hs.ServeTLS(tcp, "", "") }()
	}
	s.log.Debug("origin serving", "url", s.URL(), "h3", udp != nil, "https", tcp != nil)

	var failed error
	select {
	case <-ctx.Done():
	case err := <-errc:
		running--
		failed = fmt.Errorf("origin: server stopped: %w", err)
		if errors.Is(err, http.ErrServerClosed) {
			failed = errors.New("origin: server stopped unexpectedly")
		}
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.grace)
	defer cancel()
	var wg sync.WaitGroup
	if h3 != nil {
		wg.Go(func() {
			if err := h3.Shutdown(sctx); err != nil {
				s.log.Warn("http3 shutdown cut connections", "err", err)
			}
		})
	}
	if hs != nil {
		wg.Go(func() {
			if err := hs.Shutdown(sctx); err != nil {
				s.log.Warn("https shutdown cut connections", "err", err)
				hs.Close()
			}
		})
	}
	wg.Wait()
	for range running {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && failed == nil && ctx.Err() == nil {
			failed = fmt.Errorf("origin: server stopped: %w", err)
		}
	}
	if udp != nil {
		udp.Close()
	}
	if tcp != nil {
		tcp.Close()
	}
	s.log.Debug("origin stopped", "url", s.URL())
	return failed
}

// ListenAndServe opens UDP and TCP sockets on addr with Listen and runs
// Serve on them. To learn a port picked for ":0", call Listen and Serve
// instead, or read URL once serving.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	l, err := Listen(addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, l.UDP, l.TCP)
}

func withAltSvc(h http.Handler, value string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Alt-Svc", value)
		h.ServeHTTP(w, r)
	})
}

// ParseChunkPath returns the CID named by a /chunks/{cid} request path. It
// fails with ErrBadCID for anything else, including CIDs that are not
// CIDv1 raw sha2-256.
func ParseChunkPath(path string) (cid.Cid, error) {
	s, ok := strings.CutPrefix(path, protocol.PathChunkBase)
	if !ok {
		return cid.Undef, fmt.Errorf("%w: path %q is not under %s", ErrBadCID, path, protocol.PathChunkBase)
	}
	if s == "" {
		return cid.Undef, fmt.Errorf("%w: empty CID", ErrBadCID)
	}
	if len(s) > maxCIDLen {
		return cid.Undef, fmt.Errorf("%w: %d characters, limit %d", ErrBadCID, len(s), maxCIDLen)
	}
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %q: %v", ErrBadCID, s, err)
	}
	if err := CheckChunkCID(c); err != nil {
		return cid.Undef, err
	}
	return c, nil
}

// serveChunk answers GET and HEAD /chunks/{cid}.
func (s *Server) serveChunk(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, protocol.CodeBadRequest, "method "+r.Method+" not allowed")
		return
	}
	c, err := ParseChunkPath(r.URL.Path)
	if err != nil {
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, err.Error())
		return
	}
	f, _, err := s.store.Open(c)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, protocol.CodeNotFound, "chunk "+c.String()+" not found")
		return
	case errors.Is(err, ErrBadCID):
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, err.Error())
		return
	case err != nil:
		s.log.Error("open chunk", "cid", c, "err", err)
		writeError(w, http.StatusInternalServerError, protocol.CodeInternal, "cannot read chunk")
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", ChunkContentType)
	h.Set("Cache-Control", ChunkCacheControl)
	h.Set("Etag", `"`+c.String()+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	// A zero modtime leaves out Last-Modified: the ETag is the validator,
	// and it is the same on every origin.
	http.ServeContent(w, r, "", time.Time{}, f)
}

func serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, protocol.CodeBadRequest, "method "+r.Method+" not allowed")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok"))
}

// writeError sends a protocol.Error JSON body. Errors are never cached: a
// missing chunk may be uploaded later.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(protocol.Error{Error: msg, Code: code})
}
