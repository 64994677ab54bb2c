package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the daemon's own; the node and the cache register theirs on
// the same registry.
type metrics struct {
	requests   *prometheus.CounterVec // by route and code
	plays      prometheus.Counter
	audioBytes *prometheus.CounterVec // by reader: stream or tail
}

func newMetrics(reg *prometheus.Registry, d *Daemon) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_daemon_api_requests_total",
			Help: "Local API requests, by route pattern and status code.",
		}, []string{"route", "code"}),
		plays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_daemon_plays_total",
			Help: "Plays started through the API.",
		}),
		audioBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_daemon_audio_bytes_total",
			Help: "Decrypted audio bytes served on /audio/current, by reader (stream: the play's Playback; tail: separate reads of the last chunk).",
		}, []string{"reader"}),
	}
	reachable := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chorus_daemon_tracker_reachable",
		Help: "1 while the tracker answers, else 0.",
	}, func() float64 {
		if d.reachable.Load() {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.requests, m.plays, m.audioBytes, reachable,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// counterSums adds up every series of each named counter, in one gather.
func counterSums(reg *prometheus.Registry, names ...string) []float64 {
	out := make([]float64, len(names))
	mfs, err := reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		for i, name := range names {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				out[i] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}
