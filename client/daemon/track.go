package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/protocol"
)

// Track is a catalog entry as the API shows it.
type Track struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Artist     string `json:"artist"`
	Album      string `json:"album"`
	DurationMS int64  `json:"duration_ms"`
	// Format is the audio's MIME type, e.g. audio/flac.
	Format string `json:"format"`
	// Size is the audio's length in bytes.
	Size int64 `json:"size"`
}

func trackFromSummary(s protocol.TrackSummary) Track {
	return Track{ID: s.ID, Title: s.Title, Artist: s.Artist, Album: s.Album, DurationMS: s.DurationMS, Format: s.ContentType, Size: s.ByteLength}
}

func trackFromManifest(id string, m *catalog.Manifest) Track {
	return Track{ID: id, Title: m.Title, Artist: m.Artist, Album: m.Album, DurationMS: m.DurationMS, Format: m.ContentType, Size: m.ByteLength}
}

// maxManifests bounds the daemon's manifest memo.
const maxManifests = 2000

// manifest returns a track's verified manifest, from memory or the
// tracker. An ID that is not a track ID, or that the tracker does not
// know, is ErrUnknownTrack.
func (d *Daemon) manifest(ctx context.Context, id string) (*catalog.Manifest, error) {
	if _, err := cid.Decode(id); err != nil {
		return nil, fmt.Errorf("%w: %q is not a track ID", ErrUnknownTrack, id)
	}
	d.mu.Lock()
	m := d.manifests[id]
	d.mu.Unlock()
	if m != nil {
		return m, nil
	}
	m, err := d.tracker.Manifest(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return nil, fmt.Errorf("%w: the tracker knows no track %s", ErrUnknownTrack, id)
	}
	if err != nil {
		if errors.Is(err, client.ErrNotLoggedIn) {
			return nil, ErrNotReady
		}
		return nil, fmt.Errorf("%w: manifest of %s: %w", ErrTrackerUnreachable, id, err)
	}
	d.mu.Lock()
	if len(d.manifests) >= maxManifests {
		for k := range d.manifests {
			delete(d.manifests, k)
			break
		}
	}
	d.manifests[id] = m
	d.mu.Unlock()
	return m, nil
}

// audioRate is a track's bytes per second of audio.
func audioRate(m *catalog.Manifest) float64 {
	switch {
	case m.DurationMS > 0:
		return float64(m.ByteLength) * 1000 / float64(m.DurationMS)
	case m.BitrateKbps > 0:
		return float64(m.BitrateKbps) * 1000 / 8
	}
	return 320_000 / 8
}

func bytesToMS(m *catalog.Manifest, off int64) int64 {
	return int64(float64(off) * 1000 / audioRate(m))
}

func msToBytes(m *catalog.Manifest, ms int64) int64 {
	return int64(float64(ms) * audioRate(m) / 1000)
}

func durationMS(m *catalog.Manifest) int64 {
	if m.DurationMS > 0 {
		return m.DurationMS
	}
	return bytesToMS(m, m.ByteLength)
}
