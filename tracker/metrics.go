package tracker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the tracker's Prometheus collectors, on its own registry.
type metrics struct {
	requests      *prometheus.CounterVec   // by route pattern, method and status code
	latency       *prometheus.HistogramVec // by route pattern and method
	loginFailures *prometheus.CounterVec   // by reason
	passwordCheck prometheus.Histogram     // argon2id time of each login attempt that reached it
	keysServed    prometheus.Counter
	tickets       prometheus.Counter
	ingests       *prometheus.CounterVec // by result: created, existing, failed
	panics        prometheus.Counter
	auditBatch    prometheus.Histogram // entries per audit write
	ticketBatch   prometheus.Histogram // records per ticket write
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "chorus", Subsystem: "tracker", Name: "requests_total",
			Help: "HTTP requests by route (path pattern, or other), method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "chorus", Subsystem: "tracker", Name: "request_duration_seconds",
			Help:    "HTTP request handling time by route (path pattern, or other) and method.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "chorus", Subsystem: "tracker", Name: "login_failures_total",
			Help: "Failed logins by reason (bad_credentials, rate_limited).",
		}, []string{"reason"}),
		keysServed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "chorus", Subsystem: "tracker", Name: "track_keys_served_total",
			Help: "Track keys handed to authenticated sessions.",
		}),
		tickets: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "chorus", Subsystem: "tracker", Name: "tickets_issued_total",
			Help: "Peer admission tickets issued.",
		}),
		ingests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "chorus", Subsystem: "tracker", Name: "ingests_total",
			Help: "Ingest calls by result (created, existing, failed).",
		}, []string{"result"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "chorus", Subsystem: "tracker", Name: "handler_panics_total",
			Help: "Handler panics recovered (each answered 500).",
		}),
	}
	m.passwordCheck = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "chorus", Subsystem: "tracker", Name: "password_check_seconds",
		Help:    "Time of each login's password check (argon2id; an unknown account costs the same), through /v1/login or a start.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	m.auditBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "chorus", Subsystem: "tracker", Name: "audit_batch_entries",
		Help:    "Key requests judged per store write (group commit), each granted one with its audit entry.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11),
	})
	m.ticketBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "chorus", Subsystem: "tracker", Name: "ticket_batch_records",
		Help:    "Issued-ticket records written per store write (group commit).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11),
	})
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.loginFailures, m.passwordCheck, m.keysServed, m.tickets, m.ingests, m.panics, m.auditBatch, m.ticketBatch} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: register metrics: %v", ErrOptions, err)
		}
	}
	return m, nil
}
