package tracker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/store"
)

// minIngestSecret is the shortest Options.IngestSecret accepted.
const minIngestSecret = 32

// Ingest adds the audio file at path to the catalog. It first reads the
// file through (catalog.Inspect): what is not a whole audio file is
// refused before any chunk is written. It then encrypts the file into
// chunks put to sink, signs the canonical manifest with the current key,
// and stores the track with its key and search entry in one transaction,
// only after every chunk is in the sink. A file ingested before (same
// source hash) is not ingested again: Ingest returns the existing track
// with created false, and nothing is duplicated, the key included.
// progress, when not nil, sees the bytes done and the total. A sink with a
// Sync(context.Context) error method is synced before the track is stored.
//
// With Options.IngestSecret, the track key is HMAC-SHA256(secret, source
// hash), never a function of the content alone (anyone holding the file
// could compute it): every attempt at one file writes the same chunks, so
// an interrupted ingest run again reuses them instead of leaving a second
// set behind. Errors about the file are *catalog.IngestError, which name
// it once; the caller reports them (Ingest logs failures only at debug
// level).
func (s *Server) Ingest(ctx context.Context, path string, sink catalog.ChunkSink, progress func(done, total int64)) (protocol.TrackSummary, bool, error) {
	sum, created, err := s.ingest(ctx, path, sink, progress)
	switch {
	case err != nil:
		s.metrics.ingests.WithLabelValues("failed").Inc()
		s.log.DebugContext(ctx, "ingest failed", slog.String("path", path), slog.Any("err", err))
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
	fail := func(err error) (protocol.TrackSummary, bool, error) {
		var ie *catalog.IngestError
		if !errors.As(err, &ie) {
			err = &catalog.IngestError{Path: path, Err: err}
		}
		return protocol.TrackSummary{}, false, err
	}
	if sink == nil {
		return fail(fmt.Errorf("%w: no sink", ErrOptions))
	}
	src, err := catalog.Inspect(ctx, path)
	if err != nil {
		return fail(err)
	}
	hash := src.Hash
	unlock, err := s.lockSource(ctx, hash)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	if t, err := s.store.TrackBySource(ctx, hash); err == nil {
		return summary(t.TrackMeta), false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fail(fmt.Errorf("look up the catalog: %w", err))
	}
	key, err := s.trackKey(hash)
	if err != nil {
		return fail(err)
	}
	res, err := catalog.Ingest(ctx, catalog.IngestOptions{
		Path: path, Source: src, Key: key, Sink: sink, ChunkSize: s.opts.ChunkSize, Progress: progress,
	})
	if err != nil {
		return fail(err)
	}
	// A sink that defers durability (a chunk store's Batch) must make
	// every chunk durable before the track that refers to them becomes
	// visible.
	if syncer, ok := sink.(interface{ Sync(context.Context) error }); ok {
		if err := syncer.Sync(ctx); err != nil {
			return fail(err)
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
		// its track stands. With an IngestSecret its chunks are ours too;
		// without, ours are orphans that `chorus gc` removes.
		if prev, err := s.store.TrackBySource(ctx, hash); err == nil {
			return summary(prev.TrackMeta), false, nil
		}
		return fail(fmt.Errorf("store the track: %w", err))
	} else if err != nil {
		return fail(fmt.Errorf("store the track: %w", err))
	}
	return summary(t.TrackMeta), true, nil
}

// trackKey returns the key to encrypt the source with hash under: derived
// from the ingest secret if there is one, else random.
func (s *Server) trackKey(hash string) (catalog.TrackKey, error) {
	if s.opts.IngestSecret == nil {
		return catalog.NewTrackKey(nil)
	}
	return DeriveTrackKey(s.opts.IngestSecret, hash)
}

// DeriveTrackKey is the track key of the source whose catalog.HashSource
// is sourceHash under an ingest secret: AES key and IV from
// HMAC-SHA256(secret, label || sourceHash), with a label for each, so the
// key cannot be computed without the secret.
func DeriveTrackKey(secret []byte, sourceHash string) (catalog.TrackKey, error) {
	if len(secret) < minIngestSecret {
		return catalog.TrackKey{}, fmt.Errorf("%w: ingest secret of %d bytes", ErrOptions, len(secret))
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		m.Write([]byte{0})
		m.Write([]byte(sourceHash))
		return m.Sum(nil)
	}
	var k catalog.TrackKey
	copy(k.Key[:], derive("chorus track key v1"))
	copy(k.IV[:], derive("chorus track iv v1"))
	return k, nil
}

// lockSource serialises ingests of one source file within this process, so
// concurrent calls for the same file wait and then find the track instead
// of encrypting it again.
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
			return nil, fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
}

// ReferencedChunks returns the chunks that some track's manifest refers
// to, by cid.KeyString: what a garbage collection of the chunk store must
// keep. Run it while no ingest commits (the caller holds the ingest lock),
// or a track committed meanwhile may be missed.
func (s *Server) ReferencedChunks(ctx context.Context) (map[string]bool, error) {
	const page = 500
	refs := map[string]bool{}
	for off := 0; ; off += page {
		metas, total, err := s.store.ListTracks(ctx, page, off)
		if err != nil {
			return nil, fmt.Errorf("list tracks: %w", err)
		}
		for _, meta := range metas {
			t, err := s.store.Track(ctx, meta.ID)
			if err != nil {
				return nil, fmt.Errorf("track %s: %w", meta.ID, err)
			}
			m, err := catalog.DecodeManifest(t.Manifest)
			if err != nil {
				return nil, fmt.Errorf("track %s: %w", meta.ID, err)
			}
			for _, c := range m.Chunks {
				refs[c.CID.KeyString()] = true
			}
		}
		if len(metas) == 0 || off+len(metas) >= total {
			return refs, nil
		}
	}
}
