package node

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
)

func TestIdentityAndHeldPersist(t *testing.T) {
	tr := newFakeTracker(t)
	dir := t.TempDir()
	o := Options{DataDir: dir, TrackerKeys: tr.keys, Tickets: tr.valid()}
	ctx := testCtx(t)
	n1, err := New(ctx, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	id := n1.ID()
	track := catalog.ManifestID([]byte("held across restarts"))
	_ = n1.Provide(ctx, track) // no peers: the announcement fails, the record is kept
	if err := n1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, identityFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("identity file mode = %o; want 600", mode)
	}

	n2, err := New(ctx, o)
	if err != nil {
		t.Fatalf("New again: %v", err)
	}
	defer n2.Close()
	if n2.ID() != id {
		t.Errorf("ID after restart = %s; want %s", n2.ID(), id)
	}
	if held := n2.Held(); !slices.ContainsFunc(held, track.Equals) {
		t.Errorf("Held after restart = %v; want %s", held, track)
	}
}

func TestOptionsValidation(t *testing.T) {
	tr := newFakeTracker(t)
	base := Options{TrackerKeys: tr.keys, Tickets: tr.valid()}
	tests := []struct {
		name string
		mod  func(*Options)
	}{
		{"no keys", func(o *Options) { o.TrackerKeys = nil }},
		{"no tickets", func(o *Options) { o.Tickets = nil }},
		{"empty listen", func(o *Options) { o.ListenAddrs = []string{} }},
		{"negative slots", func(o *Options) { o.Upload.Slots = -1 }},
		{"negative rate", func(o *Options) { o.Upload.BytesPerSecond = -1 }},
		{"reprovide too slow", func(o *Options) { o.DHT.ReprovideInterval = provideValidity }},
		{"watermarks", func(o *Options) { o.Conns.LowWater, o.Conns.HighWater = 10, 5 }},
		{"negative grace period", func(o *Options) { o.Conns.GracePeriod = -time.Second }},
	}
	for _, tt := range tests {
		o := base
		tt.mod(&o)
		if _, err := New(context.Background(), o); err == nil {
			t.Errorf("New(%s) = nil error; want ErrInvalidOptions", tt.name)
		}
	}
}

func TestHeldRoundTrip(t *testing.T) {
	cs := []cid.Cid{catalog.ManifestID([]byte("a")), catalog.ManifestID([]byte("b"))}
	got, err := parseHeld(encodeHeld(cs))
	if err != nil {
		t.Fatalf("parseHeld: %v", err)
	}
	if len(got) != 2 || !slices.ContainsFunc(got, cs[0].Equals) || !slices.ContainsFunc(got, cs[1].Equals) {
		t.Errorf("parseHeld(encodeHeld(%v)) = %v", cs, got)
	}
	if _, err := parseHeld([]byte("not a cid\n")); err == nil {
		t.Errorf("parseHeld(garbage) = nil error; want an error")
	}
}

func FuzzParseHeld(f *testing.F) {
	f.Add(encodeHeld([]cid.Cid{catalog.ManifestID([]byte("a"))}))
	f.Add([]byte("\n\n  \n"))
	f.Add([]byte("bafy\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := parseHeld(b)
		if err != nil {
			return
		}
		again, err := parseHeld(encodeHeld(cs))
		if err != nil || len(again) != len(cs) {
			t.Fatalf("re-parse of %d CIDs = %d, %v", len(cs), len(again), err)
		}
	})
}
