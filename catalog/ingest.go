package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/ipfs/go-cid"
)

// HashSource returns the hex SHA-256 of a source file's bytes: the ingest
// key by which the tracker recognises a file it has ingested before.
func HashSource(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("catalog: hash source: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// IngestOptions configures Ingest.
type IngestOptions struct {
	// Path is the source audio file. Required.
	Path string
	// Source, if not nil, is Inspect's finding on Path, which Ingest then
	// does not repeat; the file must still have Source.Hash when it is
	// encrypted. Nil means Ingest inspects the file first.
	Source *Source
	// Key encrypts the chunks. The same file and key always give the same
	// chunks, manifest and track ID.
	Key TrackKey
	// Sink receives every encrypted chunk. Required.
	Sink ChunkSink
	// ChunkSize is the plaintext size of every chunk but the last; 0 means
	// ChunkSize. Otherwise it must be a positive multiple of 16 up to
	// MaxChunkSize.
	ChunkSize int
	// Progress, when not nil, is called after each chunk is stored with the
	// bytes done so far and the file's size.
	Progress func(done, total int64)
}

// IngestResult is what Ingest made of a source file.
type IngestResult struct {
	Manifest   *Manifest
	Canonical  []byte  // the manifest's canonical encoding
	TrackID    cid.Cid // ManifestID(Canonical)
	SourceHash string  // HashSource of the file
}

// Ingest checks the audio file at opts.Path (Inspect, unless opts.Source
// is given), then reads it chunk by chunk, encrypts each chunk with
// opts.Key at its offset, puts it to opts.Sink under its CID and returns
// the track's manifest. Plaintext never leaves memory; only ciphertext
// reaches the sink. It stops between chunks when ctx is done. Errors about
// the file are *IngestError.
func Ingest(ctx context.Context, opts IngestOptions) (*IngestResult, error) {
	chunkSize := opts.ChunkSize
	if chunkSize == 0 {
		chunkSize = ChunkSize
	}
	switch {
	case opts.Path == "":
		return nil, fmt.Errorf("%w: no path", ErrBadOptions)
	case opts.Sink == nil:
		return nil, fmt.Errorf("%w: no sink", ErrBadOptions)
	case chunkSize < 0 || chunkSize%16 != 0 || chunkSize > MaxChunkSize:
		return nil, fmt.Errorf("%w: chunk size %d", ErrBadOptions, opts.ChunkSize)
	case opts.Source != nil && opts.Source.Path != opts.Path:
		return nil, fmt.Errorf("%w: Source is of %q, not %q", ErrBadOptions, opts.Source.Path, opts.Path)
	}
	src := opts.Source
	if src == nil {
		var err error
		if src, err = Inspect(ctx, opts.Path); err != nil {
			return nil, err
		}
	}
	f, st, err := openSource(opts.Path)
	if err != nil {
		return nil, sourceErr(opts.Path, err)
	}
	defer f.Close()
	total := st.Size()
	md := src.Metadata
	m := &Manifest{
		Version:     ManifestVersion,
		ContentType: md.ContentType,
		Title:       md.Title,
		Artist:      md.Artist,
		Album:       md.Album,
		DurationMS:  md.DurationMS,
		BitrateKbps: md.BitrateKbps,
		ChunkSize:   chunkSize,
	}
	h := sha256.New()
	if err := encryptChunks(ctx, f, h, opts, chunkSize, total, m); err != nil {
		return nil, err
	}
	hash := hex.EncodeToString(h.Sum(nil))
	if hash != src.Hash {
		return nil, sourceErr(opts.Path, errors.New("file changed while being ingested"))
	}
	canonical, err := m.Encode()
	if err != nil {
		return nil, sourceErr(opts.Path, err)
	}
	return &IngestResult{
		Manifest:   m,
		Canonical:  canonical,
		TrackID:    ManifestID(canonical),
		SourceHash: hash,
	}, nil
}

// encryptChunks streams r into encrypted chunks, appending each to
// m.Chunks and m.ByteLength and hashing the plaintext into src.
func encryptChunks(ctx context.Context, r io.Reader, src hash.Hash, opts IngestOptions, chunkSize int, total int64, m *Manifest) error {
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return sourceErr(opts.Path, fmt.Errorf("interrupted at byte %d: %w", off, err))
		}
		// A fresh buffer per chunk: the sink may keep the slice it is given.
		buf := make([]byte, chunkSize)
		n, err := io.ReadFull(r, buf)
		if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			break
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return sourceErr(opts.Path, fmt.Errorf("read at byte %d: %w", off, err))
		}
		buf = buf[:n]
		src.Write(buf)
		if err := opts.Key.XORChunk(off, buf); err != nil {
			return fmt.Errorf("catalog: ingest %q: %w", opts.Path, err)
		}
		c := ChunkCID(buf)
		if err := opts.Sink.Put(ctx, c, buf); err != nil {
			return sourceErr(opts.Path, fmt.Errorf("store chunk %d: %w", len(m.Chunks), err))
		}
		m.Chunks = append(m.Chunks, Chunk{CID: c, Size: n})
		off += int64(n)
		m.ByteLength = off
		if opts.Progress != nil {
			opts.Progress(off, total)
		}
		if n < chunkSize {
			break
		}
	}
	return nil
}

// DecryptChunk checks that ciphertext is chunk i of m (its CID and size)
// and returns its plaintext in a new slice. A chunk that fails the check
// gives ErrChunkMismatch: the sender is wrong, not the manifest.
func DecryptChunk(m *Manifest, key TrackKey, i int, ciphertext []byte) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil manifest", ErrBadManifest)
	}
	if i < 0 || i >= len(m.Chunks) {
		return nil, fmt.Errorf("%w: chunk index %d of %d", ErrBadManifest, i, len(m.Chunks))
	}
	c := m.Chunks[i]
	if len(ciphertext) != c.Size {
		return nil, fmt.Errorf("%w: chunk %d is %d bytes, want %d", ErrChunkMismatch, i, len(ciphertext), c.Size)
	}
	if !VerifyCID(c.CID, ciphertext) {
		return nil, fmt.Errorf("%w: chunk %d does not hash to %s", ErrChunkMismatch, i, c.CID)
	}
	out := make([]byte, len(ciphertext))
	copy(out, ciphertext)
	if err := key.XORChunk(m.ChunkOffset(i), out); err != nil {
		return nil, fmt.Errorf("catalog: decrypt chunk %d: %w", i, err)
	}
	return out, nil
}
