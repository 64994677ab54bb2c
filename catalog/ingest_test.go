package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

func TestHashSource(t *testing.T) {
	got, err := HashSource(strings.NewReader("abc"))
	want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if err != nil || got != want {
		t.Errorf("HashSource(%q) = %q, %v; want %q", "abc", got, err, want)
	}
}

func TestIngestRoundTrip(t *testing.T) {
	for _, tt := range testFiles {
		for _, size := range []int{0, 4096} {
			t.Run(tt.file+"/"+strconv.Itoa(size), func(t *testing.T) {
				path := filepath.Join("testdata", tt.file)
				src := readFile(t, path)
				sink := newMemSink()
				key := fixedKey(1)
				var lastDone, lastTotal int64
				res, err := Ingest(context.Background(), IngestOptions{
					Path: path, Key: key, Sink: sink, ChunkSize: size,
					Progress: func(done, total int64) { lastDone, lastTotal = done, total },
				})
				if err != nil {
					t.Fatalf("Ingest(%q) = %v", path, err)
				}
				m := res.Manifest
				wantSize := size
				if wantSize == 0 {
					wantSize = ChunkSize
				}
				if m.ChunkSize != wantSize || m.ByteLength != int64(len(src)) {
					t.Errorf("manifest chunk size %d, length %d; want %d, %d", m.ChunkSize, m.ByteLength, wantSize, len(src))
				}
				if wantN := (len(src) + wantSize - 1) / wantSize; len(m.Chunks) != wantN {
					t.Errorf("len(Chunks) = %d; want %d", len(m.Chunks), wantN)
				}
				if lastDone != int64(len(src)) || lastTotal != int64(len(src)) {
					t.Errorf("last Progress(%d, %d); want (%d, %d)", lastDone, lastTotal, len(src), len(src))
				}
				if m.Title != tt.title || m.ContentType != tt.contentType || m.Artist != tt.artist || m.Album != tt.album {
					t.Errorf("manifest metadata = %q %q %q %q; want %q %q %q %q", m.ContentType, m.Title, m.Artist, m.Album,
						tt.contentType, tt.title, tt.artist, tt.album)
				}
				sum := sha256.Sum256(src)
				if res.SourceHash != hex.EncodeToString(sum[:]) {
					t.Errorf("SourceHash = %s; want sha256 of the file", res.SourceHash)
				}
				if want := ManifestID(res.Canonical); !res.TrackID.Equals(want) {
					t.Errorf("TrackID = %s; want ManifestID(Canonical) = %s", res.TrackID, want)
				}
				dec, err := DecodeManifest(res.Canonical)
				if err != nil {
					t.Fatalf("DecodeManifest(Canonical) = %v", err)
				}

				var out bytes.Buffer
				for i, c := range dec.Chunks {
					ct, ok := sink.get(c.CID)
					if !ok {
						t.Fatalf("chunk %d (%s) not in sink", i, c.CID)
					}
					if i == 0 && bytes.Equal(ct, src[:len(ct)]) {
						t.Errorf("chunk 0 stored in plaintext")
					}
					pt, err := DecryptChunk(dec, key, i, ct)
					if err != nil {
						t.Fatalf("DecryptChunk(%d) = %v", i, err)
					}
					out.Write(pt)
				}
				if !bytes.Equal(out.Bytes(), src) {
					t.Errorf("decrypted chunks differ from %s (%d vs %d bytes)", path, out.Len(), len(src))
				}
			})
		}
	}
}

func TestIngestDeterministic(t *testing.T) {
	path := filepath.Join("testdata", "vorbis.ogg")
	ingest := func(key TrackKey) *IngestResult {
		res, err := Ingest(context.Background(), IngestOptions{Path: path, Key: key, Sink: newMemSink()})
		if err != nil {
			t.Fatalf("Ingest(%q) = %v", path, err)
		}
		return res
	}
	a, b := ingest(fixedKey(1)), ingest(fixedKey(1))
	if !a.TrackID.Equals(b.TrackID) || !bytes.Equal(a.Canonical, b.Canonical) {
		t.Errorf("Ingest twice with one key: track IDs %s and %s; want equal", a.TrackID, b.TrackID)
	}
	for i := range a.Manifest.Chunks {
		if !a.Manifest.Chunks[i].CID.Equals(b.Manifest.Chunks[i].CID) {
			t.Errorf("chunk %d CIDs %s and %s; want equal", i, a.Manifest.Chunks[i].CID, b.Manifest.Chunks[i].CID)
		}
	}
	c := ingest(fixedKey(2))
	if c.TrackID.Equals(a.TrackID) {
		t.Errorf("Ingest with two keys gave the same track ID %s", a.TrackID)
	}
	if c.SourceHash != a.SourceHash {
		t.Errorf("SourceHash depends on the key: %s vs %s", c.SourceHash, a.SourceHash)
	}
}

func TestDecryptChunkRejects(t *testing.T) {
	path := filepath.Join("testdata", "mpeg.mp3")
	sink := newMemSink()
	key := fixedKey(3)
	res, err := Ingest(context.Background(), IngestOptions{Path: path, Key: key, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	ct, _ := sink.get(m.Chunks[1].CID)

	flipped := bytes.Clone(ct)
	flipped[100] ^= 0x04
	if _, err := DecryptChunk(m, key, 1, flipped); !errors.Is(err, ErrChunkMismatch) {
		t.Errorf("DecryptChunk(flipped bit) = %v; want ErrChunkMismatch", err)
	}
	if _, err := DecryptChunk(m, key, 1, ct[:len(ct)-1]); !errors.Is(err, ErrChunkMismatch) {
		t.Errorf("DecryptChunk(short) = %v; want ErrChunkMismatch", err)
	}
	if _, err := DecryptChunk(m, key, 0, ct); !errors.Is(err, ErrChunkMismatch) {
		t.Errorf("DecryptChunk(chunk 1 as chunk 0) = %v; want ErrChunkMismatch", err)
	}
	for _, i := range []int{-1, len(m.Chunks)} {
		if _, err := DecryptChunk(m, key, i, ct); err == nil {
			t.Errorf("DecryptChunk(index %d) = nil error; want one", i)
		}
	}
	if _, err := DecryptChunk(m, key, 1, ct); err != nil {
		t.Errorf("DecryptChunk(good) = %v", err)
	}
	if ct[100] != flipped[100]^0x04 {
		t.Errorf("DecryptChunk modified its input")
	}
}

// cancelSink cancels its context after n puts.
type cancelSink struct {
	memSink
	n      int
	cancel context.CancelFunc
}

func (s *cancelSink) Put(ctx context.Context, c cid.Cid, b []byte) error {
	if err := s.memSink.Put(ctx, c, b); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.puts == s.n {
		s.cancel()
	}
	return nil
}

func TestIngestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &cancelSink{memSink: *newMemSink(), n: 2, cancel: cancel}
	path := filepath.Join("testdata", "flac.flac")
	_, err := Ingest(ctx, IngestOptions{Path: path, Key: fixedKey(4), Sink: sink})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Ingest(cancelled) = %v; want context.Canceled", err)
	}
	if sink.puts != 2 {
		t.Errorf("sink got %d chunks after cancel at 2; want 2", sink.puts)
	}

	done := newMemSink()
	if _, err := Ingest(ctx, IngestOptions{Path: path, Key: fixedKey(4), Sink: done}); !errors.Is(err, context.Canceled) {
		t.Errorf("Ingest(already cancelled) = %v; want context.Canceled", err)
	}
	if done.puts != 0 {
		t.Errorf("Ingest(already cancelled) stored %d chunks; want 0", done.puts)
	}
}

// errSink fails every Put.
type errSink struct{}

var errPut = errors.New("disk full")

func (errSink) Put(context.Context, cid.Cid, []byte) error { return errPut }

func TestIngestErrors(t *testing.T) {
	good := filepath.Join("testdata", "vorbis.ogg")
	notAudio := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notAudio, []byte("just some text, not audio"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts IngestOptions
		want error
	}{
		{"no path", IngestOptions{Sink: newMemSink()}, ErrBadOptions},
		{"no sink", IngestOptions{Path: good}, ErrBadOptions},
		{"odd chunk size", IngestOptions{Path: good, Sink: newMemSink(), ChunkSize: 1000}, ErrBadOptions},
		{"negative chunk size", IngestOptions{Path: good, Sink: newMemSink(), ChunkSize: -16}, ErrBadOptions},
		{"huge chunk size", IngestOptions{Path: good, Sink: newMemSink(), ChunkSize: 2 * MaxChunkSize}, ErrBadOptions},
		{"directory", IngestOptions{Path: t.TempDir(), Sink: newMemSink()}, ErrNotRegular},
		{"missing", IngestOptions{Path: filepath.Join(t.TempDir(), "x.wav"), Sink: newMemSink()}, os.ErrNotExist},
		{"not audio", IngestOptions{Path: notAudio, Sink: newMemSink()}, ErrUnsupportedAudio},
		{"sink fails", IngestOptions{Path: good, Sink: errSink{}}, errPut},
	}
	for _, tt := range tests {
		if _, err := Ingest(context.Background(), tt.opts); !errors.Is(err, tt.want) {
			t.Errorf("Ingest(%s) = %v; want %v", tt.name, err, tt.want)
		}
	}
}
