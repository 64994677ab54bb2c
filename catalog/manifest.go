package catalog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// ManifestVersion is the manifest format version this package writes.
const ManifestVersion = 1

// MaxManifestSize bounds an encoded manifest (about 70,000 chunks, over an
// hour of 320 kbit/s audio at 16 KiB chunks).
const MaxManifestSize = 8 << 20

// Manifest describes one track: its metadata and its ordered encrypted
// chunks.
//
// Canonical encoding: the JSON that Go's encoding/json writes for this struct
// (keys in the declaration order below, no insignificant whitespace, HTML
// characters escaped as \u003c etc., omitted empty optional fields), with
// chunk CIDs in their default string form (base32 CIDv1). DecodeManifest
// accepts only bytes equal to the re-encoding of what it decoded, so every
// manifest has exactly one byte form and hence one track ID.
type Manifest struct {
	Version     int     `json:"v"`
	ContentType string  `json:"content_type"` // MIME type of the plaintext, e.g. audio/ogg
	Title       string  `json:"title"`
	Artist      string  `json:"artist,omitempty"`
	Album       string  `json:"album,omitempty"`
	ByteLength  int64   `json:"byte_length"`           // plaintext length in bytes
	DurationMS  int64   `json:"duration_ms,omitempty"` // from the file's headers, 0 if unknown
	BitrateKbps int     `json:"bitrate_kbps,omitempty"`
	ChunkSize   int     `json:"chunk_size"` // every chunk but the last has this size
	Chunks      []Chunk `json:"chunks"`
}

// Chunk is one encrypted chunk: its CID and its size in bytes (ciphertext
// and plaintext sizes are equal in CTR mode).
type Chunk struct {
	CID  cid.Cid `json:"cid"`
	Size int     `json:"size"`
}

// Encode returns the canonical encoding of m.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("catalog: encode manifest: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Validate checks the manifest's internal consistency: version, chunk sizes
// summing to ByteLength, CIDs of the expected kind.
func (m *Manifest) Validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("%w: version %d", ErrBadManifest, m.Version)
	}
	if m.ChunkSize <= 0 || m.ChunkSize%16 != 0 || m.ChunkSize > MaxChunkSize {
		return fmt.Errorf("%w: chunk size %d", ErrBadManifest, m.ChunkSize)
	}
	if m.ContentType == "" {
		return fmt.Errorf("%w: no content type", ErrBadManifest)
	}
	if len(m.Chunks) == 0 {
		return fmt.Errorf("%w: no chunks", ErrBadManifest)
	}
	var total int64
	for i, c := range m.Chunks {
		last := i == len(m.Chunks)-1
		if c.Size <= 0 || c.Size > m.ChunkSize || (!last && c.Size != m.ChunkSize) {
			return fmt.Errorf("%w: chunk %d has size %d", ErrBadManifest, i, c.Size)
		}
		if !c.CID.Defined() || c.CID.Version() != 1 || c.CID.Type() != cid.Raw || c.CID.Prefix().MhType != mh.SHA2_256 {
			return fmt.Errorf("%w: chunk %d CID %s is not CIDv1 raw sha2-256", ErrBadManifest, i, c.CID)
		}
		total += int64(c.Size)
	}
	if total != m.ByteLength {
		return fmt.Errorf("%w: chunks sum to %d bytes, manifest says %d", ErrBadManifest, total, m.ByteLength)
	}
	if m.DurationMS < 0 || m.BitrateKbps < 0 {
		return fmt.Errorf("%w: negative duration or bitrate", ErrBadManifest)
	}
	return nil
}

// DecodeManifest parses canonical manifest bytes. It rejects input that is
// oversized, malformed, inconsistent, or not in canonical form.
func DecodeManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrBadManifest, len(b), MaxManifestSize)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrBadManifest)
	}
	again, err := m.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrBadManifest)
	}
	return &m, nil
}

// ChunkCID returns the CID of an encrypted chunk: CIDv1, raw, sha2-256.
func ChunkCID(ciphertext []byte) cid.Cid {
	return rawCID(ciphertext)
}

// ManifestID returns the track ID for canonical manifest bytes.
func ManifestID(canonical []byte) cid.Cid {
	return rawCID(canonical)
}

func rawCID(b []byte) cid.Cid {
	h, err := mh.Sum(b, mh.SHA2_256, -1)
	if err != nil {
		// sha2-256 is always registered; Sum cannot fail for it.
		panic(fmt.Sprintf("catalog: multihash: %v", err))
	}
	return cid.NewCidV1(cid.Raw, h)
}

// VerifyCID reports whether data hashes to c. Only CIDv1 raw sha2-256 is
// accepted.
func VerifyCID(c cid.Cid, data []byte) bool {
	if c.Version() != 1 || c.Type() != cid.Raw || c.Prefix().MhType != mh.SHA2_256 {
		return false
	}
	return rawCID(data).Equals(c)
}

// ManifestSigningBytes is what the tracker signs for a manifest: a domain
// separation prefix and the canonical bytes.
func ManifestSigningBytes(canonical []byte) []byte {
	return append([]byte("chorus-manifest-v1\n"), canonical...)
}

// SignManifest signs canonical manifest bytes.
func SignManifest(canonical []byte, priv ed25519.PrivateKey) []byte {
	return ed25519.Sign(priv, ManifestSigningBytes(canonical))
}

// VerifyManifest checks a signed manifest: that the bytes decode canonically,
// that their CID is trackID, and that keys[keyID] signed them. It returns the
// decoded manifest.
func VerifyManifest(trackID string, canonical []byte, keyID string, sig []byte, keys map[string]ed25519.PublicKey) (*Manifest, error) {
	want, err := cid.Decode(trackID)
	if err != nil {
		return nil, fmt.Errorf("%w: track ID %q: %v", ErrBadManifest, trackID, err)
	}
	if !ManifestID(canonical).Equals(want) {
		return nil, fmt.Errorf("%w: manifest does not hash to track ID %s", ErrBadManifest, trackID)
	}
	pub, ok := keys[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
	}
	if !ed25519.Verify(pub, ManifestSigningBytes(canonical), sig) {
		return nil, ErrBadSignature
	}
	return DecodeManifest(canonical)
}

// ChunkIndex returns the index of the chunk holding byte offset off.
func (m *Manifest) ChunkIndex(off int64) int {
	return int(off / int64(m.ChunkSize))
}

// ChunkOffset returns the plaintext offset of chunk i.
func (m *Manifest) ChunkOffset(i int) int64 {
	return int64(i) * int64(m.ChunkSize)
}
