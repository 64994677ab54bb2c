package catalog

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
)

// ChunkSize is the default plaintext (and ciphertext) size of every chunk but
// a track's last. BENCHMARKS.md records the measurement behind the choice.
const ChunkSize = 16 << 10

// MaxChunkSize bounds the chunk size a manifest may declare.
const MaxChunkSize = 1 << 20

// TrackKey is a track's content key: AES-256 key and the initial CTR counter
// block. Its binary form (Bytes) is 48 bytes: key then IV.
type TrackKey struct {
	Key [32]byte
	IV  [16]byte
}

// TrackKeySize is the length of a TrackKey's binary form.
const TrackKeySize = 48

// NewTrackKey draws a random key from r (crypto/rand.Reader when nil).
func NewTrackKey(r io.Reader) (TrackKey, error) {
	if r == nil {
		r = rand.Reader
	}
	var k TrackKey
	if _, err := io.ReadFull(r, k.Key[:]); err != nil {
		return k, fmt.Errorf("catalog: draw track key: %w", err)
	}
	if _, err := io.ReadFull(r, k.IV[:]); err != nil {
		return k, fmt.Errorf("catalog: draw track IV: %w", err)
	}
	return k, nil
}

// Bytes returns the key's 48-byte binary form.
func (k TrackKey) Bytes() []byte {
	b := make([]byte, 0, TrackKeySize)
	b = append(b, k.Key[:]...)
	return append(b, k.IV[:]...)
}

// ParseTrackKey parses a key's binary form.
func ParseTrackKey(b []byte) (TrackKey, error) {
	var k TrackKey
	if len(b) != TrackKeySize {
		return k, fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(b), TrackKeySize)
	}
	copy(k.Key[:], b[:32])
	copy(k.IV[:], b[32:])
	return k, nil
}

// String keeps keys out of logs and fmt output.
func (k TrackKey) String() string { return "TrackKey(redacted)" }

// XORChunk encrypts or decrypts (CTR is its own inverse) the chunk that
// starts at plaintext offset off, in place. off must be a multiple of 16.
func (k TrackKey) XORChunk(off int64, data []byte) error {
	if off%aes.BlockSize != 0 || off < 0 {
		return fmt.Errorf("catalog: chunk offset %d not block aligned", off)
	}
	block, err := aes.NewCipher(k.Key[:])
	if err != nil {
		return fmt.Errorf("catalog: aes: %w", err)
	}
	iv := k.IV
	addCounter(&iv, uint64(off/aes.BlockSize))
	cipher.NewCTR(block, iv[:]).XORKeyStream(data, data)
	return nil
}

// addCounter adds n to the 128-bit big-endian counter block iv.
func addCounter(iv *[16]byte, n uint64) {
	lo := binary.BigEndian.Uint64(iv[8:])
	hi := binary.BigEndian.Uint64(iv[:8])
	sum := lo + n
	if sum < lo {
		hi++
	}
	binary.BigEndian.PutUint64(iv[8:], sum)
	binary.BigEndian.PutUint64(iv[:8], hi)
}
