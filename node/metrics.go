package node

import "github.com/prometheus/client_golang/prometheus"

// metrics are the node's own counters (libp2p registers its own on the same
// registry).
type metrics struct {
	served     *prometheus.CounterVec // by status
	uploaded   prometheus.Counter
	fetches    *prometheus.CounterVec // by result
	downloaded prometheus.Counter
	admission  *prometheus.CounterVec // by result
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_node_requests_served_total",
			Help: "Chunk requests answered, by status.",
		}, []string{"status"}),
		uploaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_node_upload_bytes_total",
			Help: "Chunk bytes served to peers.",
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_node_fetches_total",
			Help: "Chunk fetches from peers, by result.",
		}, []string{"result"}),
		downloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_node_download_bytes_total",
			Help: "Verified chunk bytes fetched from peers.",
		}),
		admission: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_node_admission_total",
			Help: "Peer ticket checks, by result (admitted, rejected, timeout, expired).",
		}, []string{"result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.served, m.uploaded, m.fetches, m.downloaded, m.admission} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
