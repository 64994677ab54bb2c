package cache

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// register adds the cache's metrics to reg. They read the cache's own
// counters, so nothing is counted twice.
func (c *Cache) register(reg prometheus.Registerer) error {
	counter := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "chorus", Subsystem: "cache", Name: name, Help: help,
		}, func() float64 { return float64(v()) })
	}
	gauge := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "chorus", Subsystem: "cache", Name: name, Help: help,
		}, func() float64 { return float64(v()) })
	}
	cs := []prometheus.Collector{
		counter("hits_total", "Get calls that returned a chunk.", c.hits.Load),
		counter("misses_total", "Get calls that did not return a chunk.", c.misses.Load),
		counter("evictions_total", "Chunks evicted to make room.", c.evictions.Load),
		counter("corrupt_total", "Chunks removed because they no longer matched their CID.", c.corrupt.Load),
		gauge("bytes", "Bytes of chunks held, writes in progress included.", c.Size),
		gauge("max_bytes", "Size bound of the cache.", c.MaxBytes),
		gauge("chunks", "Chunks held.", func() int64 { return int64(c.Len()) }),
	}
	for i, col := range cs {
		if err := reg.Register(col); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("cache: register metrics: %w", err)
		}
	}
	return nil
}
