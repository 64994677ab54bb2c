package tracker_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

func TestIngestTwiceIsOneTrack(t *testing.T) {
	h := trackertest.New(t)
	ctx := context.Background()
	sink := &trackertest.MemSink{}
	path := writeWAV(t, t.TempDir(), "Twice Band", "Same Song", 7, 1.5)

	var calls int
	first, created, err := h.Server.Ingest(ctx, path, sink, func(done, total int64) { calls++ })
	if err != nil || !created {
		t.Fatalf("Ingest = %+v, %v, %v; want created", first, created, err)
	}
	if calls == 0 {
		t.Errorf("progress never called")
	}
	if first.Title != "Same Song" || first.Artist != "Twice Band" || first.ContentType != "audio/wav" || first.Chunks < 2 {
		t.Errorf("Ingest summary = %+v; want title/artist from the file name, audio/wav, 2+ chunks", first)
	}
	key1, err := h.Store.TrackKey(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	chunks := sink.Len()

	// Same bytes under another name: still the same source.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(t.TempDir(), "Someone Else - Renamed.wav")
	if err := os.WriteFile(renamed, data, 0o644); err != nil {
		t.Fatal(err)
	}
	again, created, err := h.Server.Ingest(ctx, renamed, sink, nil)
	if err != nil || created || !reflect.DeepEqual(again, first) {
		t.Fatalf("Ingest again = %+v, %v, %v; want %+v, not created", again, created, err, first)
	}
	key2, err := h.Store.TrackKey(ctx, first.ID)
	if err != nil || string(key1) != string(key2) {
		t.Fatalf("track key changed on re-ingest")
	}
	if sink.Len() != chunks {
		t.Errorf("sink grew from %d to %d chunks on re-ingest; want unchanged", chunks, sink.Len())
	}
	list, total, err := h.Store.ListTracks(ctx, 10, 0)
	if err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("ListTracks = %v, %d, %v; want one track", list, total, err)
	}

	// A different file is a different track.
	other, created, err := h.Server.Ingest(ctx, writeWAV(t, t.TempDir(), "Twice Band", "Other Song", 8, 1), sink, nil)
	if err != nil || !created || other.ID == first.ID {
		t.Fatalf("Ingest(other) = %+v, %v, %v; want a new track", other, created, err)
	}
}

func TestIngestErrors(t *testing.T) {
	h := trackertest.New(t)
	ctx := context.Background()
	dir := t.TempDir()
	if _, _, err := h.Server.Ingest(ctx, filepath.Join(dir, "missing.wav"), &trackertest.MemSink{}, nil); err == nil {
		t.Errorf("Ingest(missing file) = nil error")
	}
	if _, _, err := h.Server.Ingest(ctx, writeWAV(t, dir, "a", "b", 1, 0.2), nil, nil); err == nil {
		t.Errorf("Ingest(nil sink) = nil error")
	}
	if _, total, _ := h.Store.ListTracks(ctx, 10, 0); total != 0 {
		t.Errorf("failed ingests left %d tracks", total)
	}
}

func TestRotateKey(t *testing.T) {
	h := trackertest.New(t)
	ctx := context.Background()
	sink := &trackertest.MemSink{}
	dir := t.TempDir()
	oldTrack := h.Ingest(t, writeWAV(t, dir, "Rot", "Before", 1, 0.5), sink)
	sess := h.User(t, "alice")

	pinnedSet := h.Keys(t) // trust on first use
	if len(pinnedSet.Keys) != 1 || pinnedSet.Keys[0].Retired || pinnedSet.Keys[0].EndorsedBy != "" {
		t.Fatalf("initial keys = %+v; want one current, unendorsed key", pinnedSet)
	}
	pinned := pinnedKeys(pinnedSet)
	oldKeyID := pinnedSet.Keys[0].KeyID

	manifest := func(id string) protocol.SignedManifest {
		var sm protocol.SignedManifest
		if code := h.Do(t, http.MethodGet, fillPattern(protocol.PathManifest, id), sess.AccessToken, nil, &sm); code != http.StatusOK {
			t.Fatalf("GET manifest %s = %d", id, code)
		}
		return sm
	}
	before := manifest(oldTrack.ID)

	var ids []string
	for range 2 {
		id, err := h.Server.RotateKey(ctx)
		if err != nil {
			t.Fatalf("RotateKey = %v", err)
		}
		ids = append(ids, id)
	}
	if ids[0] == oldKeyID || ids[1] == ids[0] {
		t.Fatalf("RotateKey IDs %v (old %s); want new distinct IDs", ids, oldKeyID)
	}

	published := h.Keys(t)
	if len(published.Keys) != 3 {
		t.Fatalf("published %d keys; want 3", len(published.Keys))
	}
	for i, k := range published.Keys {
		if wantRetired := i < 2; k.Retired != wantRetired {
			t.Errorf("key %d (%s) retired = %v; want %v", i, k.KeyID, k.Retired, wantRetired)
		}
	}
	if published.Keys[1].EndorsedBy != oldKeyID || published.Keys[2].EndorsedBy != ids[0] {
		t.Errorf("endorsements = %s, %s; want %s, %s", published.Keys[1].EndorsedBy, published.Keys[2].EndorsedBy, oldKeyID, ids[0])
	}
	// A client that pinned only the first key follows the chain to the newest.
	trusted, err := tracker.VerifyKeyChain(published, pinned)
	if err != nil {
		t.Fatalf("VerifyKeyChain = %v", err)
	}
	if _, ok := trusted[ids[1]]; !ok || len(trusted) != 3 {
		t.Fatalf("VerifyKeyChain trusts %d keys; want all 3 incl. %s", len(trusted), ids[1])
	}
	// A forged endorsement breaks the chain from there on.
	forged := protocol.SigningKeys{Keys: slices.Clone(published.Keys)}
	forged.Keys[1].Endorsement = append([]byte{}, forged.Keys[1].Endorsement...)
	forged.Keys[1].Endorsement[0] ^= 1
	if trusted, err := tracker.VerifyKeyChain(forged, pinned); err != nil || len(trusted) != 1 {
		t.Fatalf("VerifyKeyChain(forged) = %d keys, %v; want only the pinned key", len(trusted), err)
	}
	// Endorsements verify directly too.
	for i := 1; i < 3; i++ {
		prev := ed25519.PublicKey(published.Keys[i-1].PublicKey)
		if !ed25519.Verify(prev, protocol.EndorsementMessage(published.Keys[i].PublicKey), published.Keys[i].Endorsement) {
			t.Errorf("key %d endorsement does not verify with key %d", i, i-1)
		}
	}

	// The old track: same ID, same manifest and signature, still verifying
	// with the retired key.
	after := manifest(oldTrack.ID)
	if !reflect.DeepEqual(after, before) || after.KeyID != oldKeyID {
		t.Fatalf("manifest after rotation changed: %+v; want %+v", after, before)
	}
	if _, err := catalog.VerifyManifest(oldTrack.ID, after.Manifest, after.KeyID, after.Signature, trusted); err != nil {
		t.Fatalf("old manifest no longer verifies: %v", err)
	}
	var list protocol.TrackList
	h.Do(t, http.MethodGet, protocol.PathTracks, sess.AccessToken, nil, &list)
	if len(list.Tracks) != 1 || list.Tracks[0].ID != oldTrack.ID {
		t.Fatalf("tracks after rotation = %+v; want only %s", list.Tracks, oldTrack.ID)
	}

	// New ingests are signed by the new key; re-ingesting the old file
	// keeps its old signature.
	newTrack := h.Ingest(t, writeWAV(t, dir, "Rot", "After", 2, 0.5), sink)
	sm := manifest(newTrack.ID)
	if sm.KeyID != ids[1] {
		t.Fatalf("new manifest signed by %s; want %s", sm.KeyID, ids[1])
	}
	if _, err := catalog.VerifyManifest(newTrack.ID, sm.Manifest, sm.KeyID, sm.Signature, trusted); err != nil {
		t.Fatalf("new manifest does not verify: %v", err)
	}
	if _, err := catalog.VerifyManifest(newTrack.ID, sm.Manifest, sm.KeyID, sm.Signature, pinned); err == nil {
		t.Fatalf("new manifest verified with only the first key pinned; want unknown key")
	}
	re := h.Ingest(t, writeWAV(t, dir, "Rot", "Before", 1, 0.5), sink)
	if re.ID != oldTrack.ID || manifest(re.ID).KeyID != oldKeyID {
		t.Fatalf("re-ingest after rotation changed the track")
	}

	// Tickets use the new key.
	var tk protocol.Ticket
	peerID := newPeerID(t)
	h.Do(t, http.MethodPost, protocol.PathTicket, sess.AccessToken, protocol.TicketRequest{PeerID: peerID}, &tk)
	if tk.KeyID != ids[1] {
		t.Errorf("ticket signed by %s; want %s", tk.KeyID, ids[1])
	}

	// A second server on the same store (a restart) keeps the key set.
	srv2, err := tracker.New(tracker.Options{Store: h.Store, Argon2: trackertest.CheapArgon2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if got := srv2.Keyring().CurrentID(); got != ids[1] {
		t.Errorf("restarted server's current key = %s; want %s", got, ids[1])
	}
}

func TestConcurrentIngestOfOneFile(t *testing.T) {
	h := trackertest.New(t)
	sink := &trackertest.MemSink{}
	path := writeWAV(t, t.TempDir(), "Race", "Same", 9, 1)
	const n = 4
	type result struct {
		sum     protocol.TrackSummary
		created bool
		err     error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			sum, created, err := h.Server.Ingest(context.Background(), path, sink, nil)
			results <- result{sum, created, err}
		}()
	}
	created := 0
	var id string
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("Ingest = %v", r.err)
		}
		if r.created {
			created++
		}
		if id != "" && r.sum.ID != id {
			t.Fatalf("concurrent ingests gave IDs %s and %s; want one", id, r.sum.ID)
		}
		id = r.sum.ID
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent ingests created the track; want 1", created, n)
	}
	if got, _ := h.Store.Track(context.Background(), id); sink.Len() != got.Chunks {
		t.Fatalf("sink holds %d chunks; want %d (one encryption only)", sink.Len(), got.Chunks)
	}
}

// TestKeysFollowRotationByAnotherProcess: a key rotated through another
// Server on the same store (as `chorus keys rotate` does while a tracker
// runs) is published by the running one, so manifests signed with it
// verify.
func TestKeysFollowRotationByAnotherProcess(t *testing.T) {
	h := trackertest.New(t)
	other, err := tracker.New(tracker.Options{Store: h.Store, Argon2: tracker.Argon2Params{Time: 1, MemoryK: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	newID, err := other.RotateKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ks protocol.SigningKeys
	if code := h.Do(t, http.MethodGet, protocol.PathKeys, "", nil, &ks); code != http.StatusOK {
		t.Fatalf("GET keys = %d", code)
	}
	found := false
	for _, k := range ks.Keys {
		found = found || k.KeyID == newID
	}
	if !found {
		t.Fatalf("running tracker publishes %v; want the key %s rotated by another process", ks.Keys, newID)
	}
}
