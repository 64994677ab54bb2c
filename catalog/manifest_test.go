package catalog

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// testManifest builds a small valid manifest of three chunks.
func testManifest() *Manifest {
	m := &Manifest{
		Version:     ManifestVersion,
		ContentType: ContentTypeOgg,
		Title:       "Title <&>",
		Artist:      "Artist",
		DurationMS:  1234,
		BitrateKbps: 160,
		ChunkSize:   32,
	}
	for i, size := range []int{32, 32, 5} {
		m.Chunks = append(m.Chunks, Chunk{CID: ChunkCID([]byte{byte(i)}), Size: size})
		m.ByteLength += int64(size)
	}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	m := testManifest()
	b, err := m.Encode()
	if err != nil {
		t.Fatalf("Encode() = %v", err)
	}
	got, err := DecodeManifest(b)
	if err != nil {
		t.Fatalf("DecodeManifest(%s) = %v", b, err)
	}
	again, err := got.Encode()
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("Encode(DecodeManifest(b)) = %s, %v; want %s", again, err, b)
	}
	if got.Title != m.Title || len(got.Chunks) != 3 || !got.Chunks[2].CID.Equals(m.Chunks[2].CID) {
		t.Errorf("DecodeManifest(Encode(m)) = %+v; want %+v", got, m)
	}
	if !bytes.Contains(b, []byte(`\u003c`)) {
		t.Errorf("Encode() = %s; want HTML characters escaped", b)
	}
}

func TestDecodeManifestRejects(t *testing.T) {
	b, err := testManifest().Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"not json", "manifest"},
		{"trailing newline", s + "\n"},
		{"leading space", " " + s},
		{"inner whitespace", strings.Replace(s, `"v":1,`, `"v": 1,`, 1)},
		{"reordered keys", strings.Replace(s, `{"v":1,"content_type":"audio/ogg",`, `{"content_type":"audio/ogg","v":1,`, 1)},
		{"unknown field", strings.Replace(s, `{"v":1,`, `{"v":1,"extra":true,`, 1)},
		{"unescaped html", strings.Replace(s, `\u003c`, `<`, 1)},
		{"trailing data", s + s},
		{"version 2", strings.Replace(s, `"v":1`, `"v":2`, 1)},
		{"wrong length", strings.Replace(s, `"byte_length":69`, `"byte_length":70`, 1)},
		{"no chunks", s[:strings.Index(s, `"chunks":`)] + `"chunks":[]}`},
		{"zero duration spelled out", strings.Replace(s, `"duration_ms":1234`, `"duration_ms":0`, 1)},
	}
	for _, tt := range tests {
		if tt.in == s {
			t.Fatalf("case %s did not change the manifest", tt.name)
		}
		if _, err := DecodeManifest([]byte(tt.in)); !errors.Is(err, ErrBadManifest) {
			t.Errorf("DecodeManifest(%s) = %v; want ErrBadManifest", tt.name, err)
		}
	}
	big := make([]byte, MaxManifestSize+1)
	if _, err := DecodeManifest(big); !errors.Is(err, ErrBadManifest) {
		t.Errorf("DecodeManifest(oversized) = %v; want ErrBadManifest", err)
	}
}

func TestVerifyManifest(t *testing.T) {
	b, err := testManifest().Encode()
	if err != nil {
		t.Fatal(err)
	}
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
	keys := map[string]ed25519.PublicKey{
		"k1": priv.Public().(ed25519.PublicKey),
		"k2": other.Public().(ed25519.PublicKey),
	}
	id := ManifestID(b).String()
	sig := SignManifest(b, priv)
	otherB, _ := (&Manifest{Version: 1, ContentType: "audio/wav", Title: "x", ByteLength: 1, ChunkSize: 16,
		Chunks: []Chunk{{CID: ChunkCID([]byte("x")), Size: 1}}}).Encode()

	if m, err := VerifyManifest(id, b, "k1", sig, keys); err != nil || m.Title != "Title <&>" {
		t.Fatalf("VerifyManifest(good) = %v, %v", m, err)
	}
	badSig := bytes.Clone(sig)
	badSig[0] ^= 1
	tests := []struct {
		name      string
		id        string
		canonical []byte
		keyID     string
		sig       []byte
		want      error
	}{
		{"wrong id", ManifestID(otherB).String(), b, "k1", sig, ErrBadManifest},
		{"garbage id", "not-a-cid", b, "k1", sig, ErrBadManifest},
		{"other manifest", id, otherB, "k1", sig, ErrBadManifest},
		{"unknown key", id, b, "k9", sig, ErrUnknownKey},
		{"wrong key", id, b, "k2", sig, ErrBadSignature},
		{"flipped sig", id, b, "k1", badSig, ErrBadSignature},
		{"short sig", id, b, "k1", sig[:10], ErrBadSignature},
		{"signed bytes without domain", id, b, "k1", ed25519.Sign(priv, b), ErrBadSignature},
	}
	for _, tt := range tests {
		if _, err := VerifyManifest(tt.id, tt.canonical, tt.keyID, tt.sig, keys); !errors.Is(err, tt.want) {
			t.Errorf("VerifyManifest(%s) = %v; want %v", tt.name, err, tt.want)
		}
	}
}

func TestChunkIndexOffset(t *testing.T) {
	m := testManifest()
	for _, tt := range []struct {
		off  int64
		want int
	}{{0, 0}, {31, 0}, {32, 1}, {68, 2}} {
		if got := m.ChunkIndex(tt.off); got != tt.want {
			t.Errorf("ChunkIndex(%d) = %d; want %d", tt.off, got, tt.want)
		}
	}
	if got := m.ChunkOffset(2); got != 64 {
		t.Errorf("ChunkOffset(2) = %d; want 64", got)
	}
}

func FuzzDecodeManifest(f *testing.F) {
	// Seed corpus: testdata/fuzz/FuzzDecodeManifest (a valid manifest and
	// broken variants).
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			if !errors.Is(err, ErrBadManifest) {
				t.Errorf("DecodeManifest error %v is not ErrBadManifest", err)
			}
			return
		}
		again, err := m.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("DecodeManifest accepted non-canonical %q (re-encodes to %q, %v)", b, again, err)
		}
	})
}
