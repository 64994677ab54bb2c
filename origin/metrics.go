package origin

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec   // labels: proto, route, code
	bytes    *prometheus.CounterVec   // labels: proto, route
	latency  *prometheus.HistogramVec // labels: proto, route
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_origin_requests_total",
			Help: "HTTP requests answered by the origin, by protocol (h1, h2, h3), route (chunks, metrics, healthz, extra) and status code.",
		}, []string{"proto", "route", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_origin_response_bytes_total",
			Help: "Response body bytes written by the origin, by protocol and route.",
		}, []string{"proto", "route"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chorus_origin_request_duration_seconds",
			Help:    "Time to answer a request (until the handler returns, body included), by protocol and route.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"proto", "route"}),
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.bytes, err = register(reg, m.bytes); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector already there
// (two Servers sharing one registry share their metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, err
}

// instrument counts the requests and body bytes h answers under route, and
// times them. (Latency is measured, not scheduled: the wall clock is the
// right one here.)
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		start := time.Now()
		h.ServeHTTP(cw, r)
		elapsed := time.Since(start)
		code := cw.status
		if code == 0 {
			code = http.StatusOK
		}
		proto := protoLabel(r)
		m.requests.WithLabelValues(proto, route, strconv.Itoa(code)).Inc()
		m.latency.WithLabelValues(proto, route).Observe(elapsed.Seconds())
		if cw.n > 0 {
			m.bytes.WithLabelValues(proto, route).Add(float64(cw.n))
		}
	})
}

func protoLabel(r *http.Request) string {
	switch r.ProtoMajor {
	case 3:
		return "h3"
	case 2:
		return "h2"
	default:
		return "h1"
	}
}

// countingWriter records the status code and counts body bytes. It keeps
// the io.ReaderFrom fast path (sendfile on HTTP/1.1) and http.Flusher, and
// unwraps for http.ResponseController.
type countingWriter struct {
	http.ResponseWriter
	status int   // first final status written, 0 if none yet
	n      int64 // body bytes written
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.n += n
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides every method but Write, so io.Copy cannot recurse into
// ReadFrom.
type writerOnly struct{ io.Writer }
