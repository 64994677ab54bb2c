package daemon

import (
	"fmt"
	"time"

	"github.com/chorus-music/chorus/client"
)

// Status is the answer of GET /api/status and the data of each SSE
// status event.
type Status struct {
	// State is stopped, loading, playing, paused or stalled.
	State           string   `json:"state"`
	Track           *Track   `json:"track"`
	PositionMS      int64    `json:"position_ms"`
	DurationMS      int64    `json:"duration_ms"`
	BufferedAheadMS int64    `json:"buffered_ahead_ms"`
	Buffered        []Span   `json:"buffered"`
	AudioURL        string   `json:"audio_url"`
	Play            PlayInfo `json:"play"`
	Peers           int      `json:"peers"`
	Sharing         bool     `json:"sharing"`
	// TrackerReachable is false while the tracker does not answer; cached
	// and buffered plays go on.
	TrackerReachable bool      `json:"tracker_reachable"`
	Cache            CacheInfo `json:"cache"`
	UploadBps        int64     `json:"upload_bps"`
	DownloadBps      int64     `json:"download_bps"`
	// Error is the last play error, in words ("" when none).
	Error string `json:"error"`

	// Added beyond the contract:

	// Connected is true once the daemon has a session and a swarm node;
	// Connecting says why not yet.
	Connected  bool   `json:"connected"`
	Connecting string `json:"connecting,omitempty"`
	Account    string `json:"account"`
	Queued     int    `json:"queued"`
	Upload     Upload `json:"upload"`
	// Node is this daemon's swarm node, once connected.
	Node *NodeInfo `json:"node,omitempty"`
}

// NodeInfo names the daemon's swarm node.
type NodeInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// Span is a buffered stretch of the current track.
type Span struct {
	StartMS int64 `json:"start_ms"`
	EndMS   int64 `json:"end_ms"`
}

// PlayInfo describes the current play.
type PlayInfo struct {
	// StartMS is the start latency of this play (press to first audio),
	// null until the first chunk arrived.
	StartMS *float64 `json:"start_ms"`
	// Bytes counts this play's verified bytes by source.
	Bytes map[string]int64 `json:"bytes"`
	// SchedulerPositionMS is the scheduler's playhead (added).
	SchedulerPositionMS int64 `json:"scheduler_position_ms"`
	// Stalls counts the times the playhead waited for a chunk (added).
	Stalls int `json:"stalls"`
}

// CacheInfo is the chunk cache's use.
type CacheInfo struct {
	UsedBytes int64 `json:"used_bytes"`
	MaxBytes  int64 `json:"max_bytes"`
}

// Upload is the sharing policy (added).
type Upload struct {
	Slots          int   `json:"slots"`
	BytesPerSecond int64 `json:"bytes_per_second"`
}

// rateSample is the last reading of the byte counters, for rates.
type rateSample struct {
	at         time.Time
	up, down   float64
	upBps      int64
	downBps    int64
	downOrigin int64 // origin bytes of the current play at the sample
}

// Status returns the daemon's status now.
func (d *Daemon) Status() Status {
	now := d.clock.Now()
	up, down, sampled := d.readCounters(now)
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{
		State:            "stopped",
		Buffered:         []Span{},
		Play:             PlayInfo{Bytes: map[string]int64{"cache": 0, "peer": 0, "origin": 0}},
		Sharing:          d.sharing.Load(),
		TrackerReachable: d.reachable.Load(),
		Error:            d.lastErr,
		Connected:        d.client != nil,
		Connecting:       d.connErr,
		Account:          d.tracker.Account(),
		Queued:           len(d.queue),
		Upload:           Upload{Slots: d.cfg.UploadSlots, BytesPerSecond: d.cfg.UploadBytesPerSecond},
	}
	if d.node != nil {
		s.Peers = len(d.node.AdmittedPeers())
		s.Node = &NodeInfo{ID: d.node.ID().String(), Addrs: []string{}}
		for _, a := range d.node.Addrs() {
			s.Node.Addrs = append(s.Node.Addrs, a.String())
		}
	}
	if d.cache != nil {
		s.Cache = CacheInfo{UsedBytes: d.cache.Size(), MaxBytes: d.cache.MaxBytes()}
	}
	var originBytes int64
	if p := d.cur; p != nil {
		d.refreshLocked(p, now)
		t := p.track
		s.Track = &t
		pos := p.position(now)
		s.PositionMS = bytesToMS(p.m, pos)
		s.DurationMS = durationMS(p.m)
		s.AudioURL = "/audio/current?t=" + p.token
		s.Play.StartMS = p.startMS
		s.Play.SchedulerPositionMS = bytesToMS(p.m, p.schedPos)
		for k, v := range p.prevBytes {
			s.Play.Bytes[k.String()] += v
		}
		s.Play.Stalls = p.prevStall
		if p.pb != nil {
			st := p.pb.Stats()
			for k, v := range st.BytesBySource {
				s.Play.Bytes[k.String()] += v
			}
			s.Play.Stalls += st.Stalls
		}
		originBytes = s.Play.Bytes[client.KindOrigin.String()]
		switch {
		case p.failed != nil:
			s.State = "stalled"
			if s.Error == "" {
				s.Error = fmt.Sprintf("the play of %s stopped: %v; play it again or seek once a source is back", p.track.Title, p.failed)
			}
		case p.paused:
			s.State = "paused"
		case !p.started:
			s.State = "loading"
		case p.stalled(now):
			s.State = "stalled"
		default:
			s.State = "playing"
		}
		s.Buffered, s.BufferedAheadMS = d.bufferedLocked(p, pos)
	}
	if sampled {
		d.ratesLocked(now, up, down, originBytes)
	}
	s.UploadBps, s.DownloadBps = d.rate.upBps, d.rate.downBps
	return s
}

// readCounters reads the node's byte counters, at most once a second (so
// an idle daemon reads no metrics), without the daemon's lock: gathering
// the registry takes a while.
func (d *Daemon) readCounters(now time.Time) (up, down float64, sampled bool) {
	d.rateMu.Lock()
	if !d.rateAt.IsZero() && now.Sub(d.rateAt) < time.Second {
		d.rateMu.Unlock()
		return 0, 0, false
	}
	d.rateAt = now
	d.rateMu.Unlock()
	sums := counterSums(d.registry, "chorus_node_upload_bytes_total", "chorus_node_download_bytes_total")
	return sums[0], sums[1], true
}

// bufferedLocked lists the stretches of the current track held in the
// cache (every verified chunk goes there), and how far the one under pos
// reaches ahead.
func (d *Daemon) bufferedLocked(p *play, pos int64) ([]Span, int64) {
	spans := []Span{}
	if d.cache == nil {
		return spans, 0
	}
	var ahead int64
	start := int64(-1)
	m := p.m
	for i, ch := range m.Chunks {
		have := d.cache.Has(ch.CID)
		off := m.ChunkOffset(i)
		if have && start < 0 {
			start = off
		}
		end := off + int64(ch.Size)
		if start >= 0 && (!have || i == len(m.Chunks)-1) {
			stop := off
			if have {
				stop = end
			}
			spans = append(spans, Span{StartMS: bytesToMS(m, start), EndMS: bytesToMS(m, stop)})
			if pos >= start && pos < stop {
				ahead = bytesToMS(m, stop) - bytesToMS(m, pos)
			}
			start = -1
		}
	}
	return spans, ahead
}

// ratesLocked turns a reading of the byte counters (and the play's origin
// bytes) into upload and download rates.
func (d *Daemon) ratesLocked(now time.Time, up, down float64, originBytes int64) {
	r := &d.rate
	if !r.at.IsZero() && now.After(r.at) {
		secs := now.Sub(r.at).Seconds()
		r.upBps = int64(max(up-r.up, 0) / secs)
		dOrigin := max(originBytes-r.downOrigin, 0)
		r.downBps = int64((max(down-r.down, 0) + float64(dOrigin)) / secs)
	}
	r.at, r.up, r.down, r.downOrigin = now, up, down, originBytes
}
