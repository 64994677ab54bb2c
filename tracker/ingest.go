package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/store"
)

// Ingest adds the audio file at path to the catalog: it encrypts the file
// into chunks put to sink, signs the canonical manifest with the current
// key, and stores the track with its key and search entry in one
// transaction, only after every chunk is in the sink. A file ingested
// before (same source hash) is not ingested again: Ingest returns the
// existing track with created false, and nothing is duplicated, the key
// included. progress, when not nil, sees the bytes done and the total. A
// sink with a Sync(context.Context) error method is synced before the track
// is stored.
func (s *Server) Ingest(ctx context.Context, path string, sink catalog.ChunkSink, progress func(done, total int64)) (protocol.TrackSummary, bool, error) {
	sum, created, err := s.ingest(ctx, path, sink, progress)
	switch {
	case err != nil:
		s.metrics.ingests.WithLabelValues("failed").Inc()
		s.log.WarnContext(ctx, "ingest failed", slog.String("path", path), slog.Any("err", err))
	case created:
		s.metrics.ingests.WithLabelValues("created").Inc()
		s.log.InfoContext(ctx, "track ingested", slog.String("track", sum.ID), slog.String("title", sum.Title),
			slog.Int("chunks", sum.Chunks), slog.String("path", path))
	default:
		s.metrics.ingests.WithLabelValues("existing").Inc()
		s.log.InfoContext(ctx, "track already ingested", slog.String("track", sum.ID), slog.String("path", path))
	}
	return sum, created, err
}

func (s *Server) ingest(ctx context.Context, path string, sink catalog.ChunkSink, progress func(done, total int64)) (protocol.TrackSummary, bool, error) {
	if sink == nil {
		return protocol.TrackSummary{}, false, fmt.Errorf("tracker: ingest %q: %w: no sink", path, ErrOptions)
	}
	hash, err := hashFile(path)
	if err != nil {
		return protocol.TrackSummary{}, false, err
	}
	unlock, err := s.lockSource(ctx, hash)
	if err != nil {
		return protocol.TrackSummary{}, false, fmt.Errorf("tracker: ingest %q: %w", path, err)
	}
	defer unlock()
	if t, err := s.store.TrackBySource(ctx, hash); err == nil {
		return summary(t.TrackMeta), false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return protocol.TrackSummary{}, false, fmt.Errorf("tracker: ingest %q: %w", path, err)
	}
	key, err := catalog.NewTrackKey(nil)
	if err != nil {
		return protocol.TrackSummary{}, false, err
	}
	res, err := catalog.Ingest(ctx, catalog.IngestOptions{
		Path: path, Key: key, Sink: sink, ChunkSize: s.opts.ChunkSize, Progress: progress,
	})
	if err != nil {
		return protocol.TrackSummary{}, false, fmt.Errorf("tracker: ingest %q: %w", path, err)
	}
	if res.SourceHash != hash {
		return protocol.TrackSummary{}, false, fmt.Errorf("tracker: ingest %q: file changed while being ingested", path)
	}
	// A sink that defers durability (origin.Batch) must make every chunk
	// durable before the track that refers to them becomes visible.
	if syncer, ok := sink.(interface{ Sync(context.Context) error }); ok {
		if err := syncer.Sync(ctx); err != nil {
			return protocol.TrackSummary{}, false, fmt.Errorf("tracker: ingest %q: %w", path, err)
		}
	}
	keyID, sig := s.keys.Sign(catalog.ManifestSigningBytes(res.Canonical))
	m := res.Manifest
	t := store.Track{
		TrackMeta: store.TrackMeta{
			ID: res.TrackID.String(), Title: m.Title, Artist: m.Artist, Album: m.Album, DurationMS: m.DurationMS,
			ByteLength: m.ByteLength, ContentType: m.ContentType, Chunks: len(m.Chunks),
		},
		SourceHash: res.SourceHash, Manifest: res.Canonical, KeyID: keyID, Signature: sig, CreatedAt: s.clock.Now(),
	}
	if err := s.store.PutTrack(ctx, t, key.Bytes()); errors.Is(err, store.ErrExists) {
		// Another tracker process on the same store ingested the same file
		// meanwhile (ingests in this process are serialised per source);
		// its track stands, and the chunks we put under our key are
		// orphans in the sink.
		if prev, err := s.store.TrackBySource(ctx, hash); err == nil {
			return summary(prev.TrackMeta), false, nil
		}
		return protocol.TrackSummary{}, false, fmt.Errorf("tracker: ingest %q: %w", path, err)
	} else if err != nil {
		return protocol.TrackSummary{}, false, fmt.Errorf("tracker: ingest %q: %w", path, err)
	}
	return summary(t.TrackMeta), true, nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("tracker: ingest: %w", err)
	}
	defer f.Close()
	h, err := catalog.HashSource(f)
	if err != nil {
		return "", fmt.Errorf("tracker: ingest %q: %w", path, err)
	}
	return h, nil
}

// lockSource serialises ingests of one source file within this process, so
// concurrent calls for the same file wait and then find the track instead
// of encrypting it again under another key.
func (s *Server) lockSource(ctx context.Context, hash string) (unlock func(), err error) {
	for {
		s.mu.Lock()
		busy, ok := s.ingesting[hash]
		if !ok {
			done := make(chan struct{})
			if s.ingesting == nil {
				s.ingesting = make(map[string]chan struct{})
			}
			s.ingesting[hash] = done
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.ingesting, hash)
				s.mu.Unlock()
				close(done)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
