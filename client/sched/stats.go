package sched

import "time"

// Stats describe one play (from Play to Finished, Stop or the next Play).
// Bytes fetched ahead for a prefetched track count in that track's play.
type Stats struct {
	// Track is the track ID.
	Track string
	// PlayAt is the time of the Play event.
	PlayAt time.Time
	// Started reports whether the first chunk arrived.
	Started bool
	// StartLatency is from the Play event to the arrival of the chunk under
	// the start offset (the driver adds decryption and decoder time).
	StartLatency time.Duration
	// Stalls counts times the playhead reached a chunk that had not arrived;
	// StallTime is how long it stood in total (on the playhead's clock, so
	// a stall at Speed 8 is measured in driver time).
	Stalls    int
	StallTime time.Duration
	// Seeks counts Seek events; SeekWait is the total time from a Seek to
	// the arrival of the chunk under the new position.
	Seeks    int
	SeekWait time.Duration
	// Bytes counts delivered bytes by source kind (index with KindCache,
	// KindPeer, KindOrigin). Requests counts requests sent by source kind.
	Bytes    [numKinds]int64
	Requests [numKinds]int
	// OriginRequests counts origin requests by reason (index with
	// ReasonRace, ReasonAtRisk, ...).
	OriginRequests [numReasons]int
	// Cancels counts requests the scheduler cancelled (race and hedge
	// losers, seeks, stops). WastedBytes counts bytes that arrived for
	// cancelled or duplicate requests.
	Cancels     int
	WastedBytes int64
	// Failures counts RequestFailed events.
	Failures int
	// Ended reports that the playhead reached the end of the track.
	Ended bool
}

// TotalBytes returns the delivered bytes from all sources.
func (s *Stats) TotalBytes() int64 {
	var n int64
	for _, b := range s.Bytes {
		n += b
	}
	return n
}

// OriginRequestTotal returns the number of origin requests for any reason.
func (s *Stats) OriginRequestTotal() int {
	var n int
	for _, c := range s.OriginRequests {
		n += c
	}
	return n
}
