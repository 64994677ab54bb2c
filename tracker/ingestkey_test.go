package tracker_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

var (
	secretA = bytes.Repeat([]byte{1}, 32)
	secretB = bytes.Repeat([]byte{2}, 32)
)

// TestDeriveTrackKey: the key depends on both the secret and the source
// hash, and on nothing else.
func TestDeriveTrackKey(t *testing.T) {
	const h1, h2 = "aa", "bb"
	k, err := tracker.DeriveTrackKey(secretA, h1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := tracker.DeriveTrackKey(secretA, h1)
	otherHash, _ := tracker.DeriveTrackKey(secretA, h2)
	otherSecret, _ := tracker.DeriveTrackKey(secretB, h1)
	if !bytes.Equal(k.Bytes(), again.Bytes()) {
		t.Errorf("DeriveTrackKey is not deterministic")
	}
	if bytes.Equal(k.Bytes(), otherHash.Bytes()) || bytes.Equal(k.Bytes(), otherSecret.Bytes()) {
		t.Errorf("DeriveTrackKey ignores the hash or the secret")
	}
	if bytes.Equal(k.Key[:16], k.IV[:]) {
		t.Errorf("key and IV are the same bytes")
	}
	if _, err := tracker.DeriveTrackKey(secretA[:31], h1); !errors.Is(err, tracker.ErrOptions) {
		t.Errorf("DeriveTrackKey(31-byte secret) = %v; want ErrOptions", err)
	}
}

// TestIngestWithSecretRepeats: two trackers with one ingest secret write
// the same chunks and key for one file (an interrupted ingest run again
// reuses what it wrote); another secret gives other chunks.
func TestIngestWithSecretRepeats(t *testing.T) {
	path := writeWAV(t, t.TempDir(), "Key Band", "Same Key", 3, 1.5)
	ingest := func(secret []byte) ([]byte, *trackertest.MemSink) {
		h := trackertest.New(t, func(o *tracker.Options) { o.IngestSecret = secret })
		sink := &trackertest.MemSink{}
		sum, _, err := h.Server.Ingest(context.Background(), path, sink, nil)
		if err != nil {
			t.Fatal(err)
		}
		key, err := h.Store.TrackKey(context.Background(), sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		return key, sink
	}
	k1, s1 := ingest(secretA)
	k2, s2 := ingest(secretA)
	k3, _ := ingest(secretB)
	if !bytes.Equal(k1, k2) || s1.Len() != s2.Len() {
		t.Fatalf("one secret gave different keys or chunk counts")
	}
	if bytes.Equal(k1, k3) {
		t.Errorf("two secrets gave one key")
	}
	src, err := catalog.Inspect(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tracker.DeriveTrackKey(secretA, src.Hash)
	if !bytes.Equal(k1, want.Bytes()) {
		t.Errorf("stored key is not DeriveTrackKey(secret, source hash)")
	}
}

func TestIngestSecretTooShort(t *testing.T) {
	_, err := tracker.New(tracker.Options{Store: trackertest.New(t).Store, IngestSecret: make([]byte, 8)})
	if !errors.Is(err, tracker.ErrOptions) {
		t.Errorf("New(8-byte IngestSecret) = %v; want ErrOptions", err)
	}
}
