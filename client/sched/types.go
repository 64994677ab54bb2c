package sched

import (
	"fmt"
	"log/slog"
	"time"
)

// SourceID names a source of chunks: a peer ID, an origin URL, or
// CacheSource. The driver chooses the strings; the scheduler only compares
// them.
type SourceID string

// LogValue logs a SourceID as a plain string.
func (id SourceID) LogValue() slog.Value { return slog.StringValue(string(id)) }

// CacheSource is the built-in source for chunks the local cache holds
// (TrackInfo.Cached). The driver serves Requests to it from disk and never
// needs to announce it with a SourceUpdate.
const CacheSource SourceID = "cache"

// SourceKind says what kind of source a SourceID is.
type SourceKind uint8

// Source kinds. They index Stats.Bytes and Stats.Requests.
const (
	KindCache  SourceKind = iota // the local disk cache
	KindPeer                     // another client over libp2p
	KindOrigin                   // an origin server over HTTP
	numKinds
)

// String returns "cache", "peer" or "origin".
func (k SourceKind) String() string {
	switch k {
	case KindCache:
		return "cache"
	case KindPeer:
		return "peer"
	case KindOrigin:
		return "origin"
	}
	return fmt.Sprintf("SourceKind(%d)", uint8(k))
}

// MarshalText encodes k as its String, so JSON maps keyed by SourceKind
// read {"origin": ...}.
func (k SourceKind) MarshalText() ([]byte, error) {
	if k >= numKinds {
		return nil, fmt.Errorf("sched: unknown SourceKind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes "cache", "peer" or "origin".
func (k *SourceKind) UnmarshalText(b []byte) error {
	for c := range numKinds {
		if string(b) == c.String() {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("sched: unknown source kind %q", b)
}

// ReqID names one chunk request; the scheduler allocates them, starting at 1.
type ReqID uint64

// TimerID names one armed timer; the scheduler allocates them, starting at 1.
type TimerID uint64

// Reason says why a Request goes out. Every origin request carries one of
// the origin reasons; peer and cache requests carry ReasonPeer,
// ReasonResend or ReasonCache (or ReasonPrefetch for the next track).
type Reason uint8

// Request reasons. The origin reasons index Stats.OriginRequests.
const (
	ReasonCache      Reason = iota // the chunk is in the local cache
	ReasonPeer                     // ordinary fetch from a peer
	ReasonRace                     // origin: first chunk after Play or Seek, raced against a peer
	ReasonAtRisk                   // origin: a peer would miss (or missed) the deadline
	ReasonLowBuffer                // origin: the buffer ahead of the playhead is below Config.LowBuffer
	ReasonNoPeer                   // origin: no usable peer holds the track
	ReasonPeerFailed               // origin: a peer failed this chunk and no other peer makes the deadline
	ReasonPrefetch                 // next track's first chunks (from a peer, or from an origin at PrefetchOriginAt)
	ReasonResend                   // peer: re-sent to a second peer because the first is late
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonCache:      "cache",
	ReasonPeer:       "peer",
	ReasonRace:       "first-chunk race",
	ReasonAtRisk:     "deadline at risk",
	ReasonLowBuffer:  "low buffer",
	ReasonNoPeer:     "no peer has it",
	ReasonPeerFailed: "peer failed",
	ReasonPrefetch:   "prefetch next track",
	ReasonResend:     "re-sent to another peer",
}

// String returns the reason in words, e.g. "deadline at risk".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// FailReason says why a request failed (RequestFailed).
type FailReason uint8

// Failure reasons.
const (
	// FailDontHave: the peer does not hold the chunk. For chunk 0 it is no
	// longer asked for the track (until PeersFound lists it again); for a
	// later chunk it is not asked for that chunk or later ones for
	// Config.BusyBackoff (doubled for each DontHave in a row), since it may
	// still be downloading the track.
	FailDontHave FailReason = iota + 1
	// FailBusy: the source refused for load; it is not asked again for
	// Config.BusyBackoff, doubled for each further failure in a row.
	FailBusy
	// FailCorrupt: the data did not verify against its CID; the source is
	// banned for the rest of the play.
	FailCorrupt
	// FailTimeout: the source did not answer in time; it is backed off like
	// FailBusy.
	FailTimeout
	// FailGone: the connection is lost; the source is backed off like
	// FailBusy, and a peer is marked not connected (a later request dials
	// it again).
	FailGone
)

// String returns the failure in words.
func (f FailReason) String() string {
	switch f {
	case FailDontHave:
		return "dont-have"
	case FailBusy:
		return "busy"
	case FailCorrupt:
		return "corrupt"
	case FailTimeout:
		return "timeout"
	case FailGone:
		return "gone"
	}
	return fmt.Sprintf("FailReason(%d)", uint8(f))
}

// TrackInfo describes a track to the scheduler: its chunks and how fast the
// player consumes them.
type TrackInfo struct {
	// ID is the track ID (the manifest CID string).
	ID string
	// ChunkSizes are the sizes in bytes of the track's chunks, in order.
	// Required, every size > 0.
	ChunkSizes []int
	// Duration is the playing time of the whole track. If zero, BitrateBps
	// must be set.
	Duration time.Duration
	// BitrateBps is the average bitrate in bits per second, used when
	// Duration is zero.
	BitrateBps int64
	// Cached marks the chunks the local cache holds (the driver looked them
	// up). Nil means none; otherwise its length equals len(ChunkSizes).
	Cached []bool
}

// SourceInfo is what the driver knows about a source.
type SourceInfo struct {
	ID   SourceID
	Kind SourceKind
	// Connected reports an open connection. Origins count as connected once
	// a connection has been used; a peer that is not connected costs one
	// more RTT to reach.
	Connected bool
	// RTT is the measured round trip time; zero means Config.DefaultRTT.
	RTT time.Duration
	// BytesPerSecond is the measured throughput from this source; zero
	// means Config.DefaultBytesPerSecond.
	BytesPerSecond int64
}

// Event is an input to Scheduler.Step. The set is closed: Play, Seek,
// PlayerPosition, Pause, Resume, ChunkArrived, RequestFailed, TimerFired,
// SourceUpdate, PeersFound, Show, RoutingGrew, Dropped, Queue and Stop.
type Event interface {
	// Time returns when the event happened on the driver's clock.
	Time() time.Time
	isEvent()
}

// Play starts playing Track from byte offset StartOffset, replacing any
// current play. Requests of the old play are cancelled unless Track is the
// prefetched next track, whose requests and arrived chunks carry over.
type Play struct {
	At          time.Time
	Track       TrackInfo
	StartOffset int64
}

// Seek moves the playhead of the current play to byte offset Offset.
type Seek struct {
	At     time.Time
	Offset int64
}

// PlayerPosition reports the player's own position (byte offset) when the
// player drives the playhead; the playhead is re-anchored there and keeps
// moving at Config.Speed until the next report.
type PlayerPosition struct {
	At     time.Time
	Offset int64
}

// Pause stops the current play's playback clock (the listener paused):
// the playhead stands still, and neither stalls nor reaches the end, until
// Resume. Fetching goes on as if playing would resume at once.
type Pause struct {
	At time.Time
}

// Resume restarts a paused playback clock from where it stood.
type Resume struct {
	At time.Time
}

// ChunkArrived reports that request Req delivered Bytes bytes of verified
// chunk data.
type ChunkArrived struct {
	At    time.Time
	Req   ReqID
	Bytes int
}

// RequestFailed reports that request Req will deliver nothing.
type RequestFailed struct {
	At     time.Time
	Req    ReqID
	Reason FailReason
}

// TimerFired reports that the timer armed by ArmTimer came due.
type TimerFired struct {
	At    time.Time
	Timer TimerID
}

// SourceUpdate adds a source or updates what is known about it (connected
// or not, measured RTT and throughput). Origins are announced this way.
type SourceUpdate struct {
	At     time.Time
	Source SourceInfo
}

// PeersFound reports peers that hold Track (from the DHT, the tracker or a
// provider-record cache). Each is also a SourceUpdate. The driver answers
// every FindPeers with one, with no Sources when the lookup failed or found
// no one: while the track plays, is queued or shown, the scheduler then
// looks again after Config.LookupRetry, doubling to Config.LookupRetryMax,
// and at once on RoutingGrew.
type PeersFound struct {
	At      time.Time
	Track   string
	Sources []SourceInfo
}

// Dropped reports that the driver no longer holds chunk Chunk of the
// current play (it keeps only a window of decrypted audio): the chunk counts
// as missing again and is fetched again if the playhead comes to need it,
// from the cache when Cached says the cache holds it.
type Dropped struct {
	At     time.Time
	Chunk  int
	Cached bool
}

// Show tells that Track is shown to the listener (in a list, hovered):
// its holders are looked up now, and again while lookups find nothing, so a
// later Play finds them known. The last 16 shown tracks count as shown, each
// for 2 minutes after its last Show.
type Show struct {
	At    time.Time
	Track string
}

// RoutingGrew reports that the DHT routing table gained a peer: lookups
// that found nothing are retried at once (their backoff starts afresh),
// and disconnected peers in backoff may be asked again.
type RoutingGrew struct {
	At time.Time
}

// Queue tells which tracks play next, in order. Only Next[0] is
// prefetched; FindPeers goes out for up to Config.LookupAhead of them.
type Queue struct {
	At   time.Time
	Next []TrackInfo
}

// Stop ends the current play and cancels every request.
type Stop struct {
	At time.Time
}

// Time returns e.At.
func (e Play) Time() time.Time { return e.At }

// Time returns e.At.
func (e Seek) Time() time.Time { return e.At }

// Time returns e.At.
func (e PlayerPosition) Time() time.Time { return e.At }

// Time returns e.At.
func (e Pause) Time() time.Time { return e.At }

// Time returns e.At.
func (e Resume) Time() time.Time { return e.At }

// Time returns e.At.
func (e ChunkArrived) Time() time.Time { return e.At }

// Time returns e.At.
func (e RequestFailed) Time() time.Time { return e.At }

// Time returns e.At.
func (e TimerFired) Time() time.Time { return e.At }

// Time returns e.At.
func (e SourceUpdate) Time() time.Time { return e.At }

// Time returns e.At.
func (e PeersFound) Time() time.Time { return e.At }

// Time returns e.At.
func (e Show) Time() time.Time { return e.At }

// Time returns e.At.
func (e Dropped) Time() time.Time { return e.At }

// Time returns e.At.
func (e RoutingGrew) Time() time.Time { return e.At }

// Time returns e.At.
func (e Queue) Time() time.Time { return e.At }

// Time returns e.At.
func (e Stop) Time() time.Time { return e.At }

func (Play) isEvent()           {}
func (Seek) isEvent()           {}
func (PlayerPosition) isEvent() {}
func (Pause) isEvent()          {}
func (Resume) isEvent()         {}
func (ChunkArrived) isEvent()   {}
func (RequestFailed) isEvent()  {}
func (TimerFired) isEvent()     {}
func (SourceUpdate) isEvent()   {}
func (PeersFound) isEvent()     {}
func (Show) isEvent()           {}
func (Dropped) isEvent()        {}
func (RoutingGrew) isEvent()    {}
func (Queue) isEvent()          {}
func (Stop) isEvent()           {}

// Action is an output of Scheduler.Step for the driver to carry out. The
// set is closed: Request, Cancel, ArmTimer, FindPeers, Warm, Forget,
// Finished and GaveUp.
type Action interface {
	isAction()
}

// Request asks the driver to fetch chunk Chunk of track Track from Source
// and to answer with ChunkArrived or RequestFailed for ID.
type Request struct {
	ID     ReqID
	Track  string
	Chunk  int
	Bytes  int // expected size of the chunk
	Source SourceID
	Kind   SourceKind
	Reason Reason
	// Deadline is when the playhead reaches the chunk (for the next
	// track: when it would, once the current one ends). A driver may pass
	// it to the source so it serves the most urgent requests first.
	Deadline time.Time
}

// Cancel asks the driver to abandon request Req. The driver may still
// report its arrival; the scheduler then counts the bytes as wasted.
type Cancel struct {
	Req ReqID
}

// ArmTimer asks the driver to send TimerFired{Timer} at At. Each ArmTimer
// supersedes the one before: the driver may cancel the earlier timer, and
// if it still fires the Step costs nothing (it is ignored at once).
type ArmTimer struct {
	Timer TimerID
	At    time.Time
}

// FindPeers asks the driver to look up peers holding Track (DHT lookup)
// and report them with PeersFound. Nothing waits for the answer.
type FindPeers struct {
	Track string
}

// Warm asks the driver to connect to Source and protect the connection,
// because it is likely to be asked for chunks soon. The driver reports the
// connection with SourceUpdate.
type Warm struct {
	Source SourceID
}

// Finished reports that the playhead reached the end of the track; Stats
// are final.
type Finished struct {
	Track string
	Stats Stats
}

// Forget tells the driver that the scheduler no longer refers to Source (a
// peer that holds no playing, queued or shown track and has nothing in
// flight), so the driver may drop what it keeps about it. A later
// PeersFound or SourceUpdate brings it back.
type Forget struct {
	Source SourceID
}

// GaveUp reports that the current play was ended because it could not
// progress: its playhead waited or stalled, not paused, with no chunk
// arriving for Config.GiveUpAfter (Stuck is how long). Its requests are
// cancelled, as by Stop; Stats are final.
type GaveUp struct {
	Track string
	Stuck time.Duration
	Stats Stats
}

func (GaveUp) isAction()    {}
func (Forget) isAction()    {}
func (Request) isAction()   {}
func (Cancel) isAction()    {}
func (ArmTimer) isAction()  {}
func (FindPeers) isAction() {}
func (Warm) isAction()      {}
func (Finished) isAction()  {}
