package tracker_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/store/sqlite"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

// dirSink is a minimal on-disk chunk sink: one file per CID, written to a
// temporary name and renamed, so a chunk file is whole or absent.
type dirSink struct{ dir string }

func (d dirSink) Put(ctx context.Context, c cid.Cid, data []byte) error {
	final := filepath.Join(d.dir, c.String())
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	f, err := os.CreateTemp(d.dir, "tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), final)
}

const (
	crashEnv   = "CHORUS_TRACKER_CRASH_DIR"
	crashFiles = 80
	crashWait  = 5 // tracks the parent waits for before it kills
)

func crashPaths(dir string) (db, chunks, src string) {
	return filepath.Join(dir, "tracker.db"), filepath.Join(dir, "chunks"), filepath.Join(dir, "src")
}

func crashSource(src string, i int) string {
	return filepath.Join(src, fmt.Sprintf("Crash Band - Kill Song %03d.wav", i))
}

// crashChild runs in the child process: it ingests every source file in
// order, printing "new <track ID>" after each track it creates is
// committed.
func crashChild(t *testing.T, dir string) {
	dbPath, chunks, src := crashPaths(dir)
	st, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := tracker.New(tracker.Options{Store: st, Argon2: trackertest.CheapArgon2, ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range crashFiles {
		sum, created, err := srv.Ingest(context.Background(), crashSource(src, i), dirSink{chunks}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if created {
			fmt.Printf("new %s\n", sum.ID)
		}
	}
	fmt.Println("finished")
}

// TestIngestSurvivesSIGKILL kills a process in the middle of a run of
// ingests and checks that the store it leaves holds only whole tracks.
func TestIngestSurvivesSIGKILL(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	dir := t.TempDir()
	dbPath, chunks, src := crashPaths(dir)
	for _, d := range []string{chunks, src} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range crashFiles {
		path := writeWAV(t, src, "Crash Band", fmt.Sprintf("Kill Song %03d", i), int64(i), 1.5)
		if path != crashSource(src, i) {
			t.Fatalf("writeWAV path %s; want %s", path, crashSource(src, i))
		}
	}

	// Several rounds on the same store: each child ingests the files in
	// order (the ones already in are found, not redone) and is killed after
	// it has committed a few new tracks.
	var done []string // every track a child reported committed, in file order
	for round, wait := range []int{crashWait, 2, 7} {
		committed := runCrashChild(t, dir, wait)
		t.Logf("round %d: child committed %d new tracks before it died", round, len(committed))
		done = append(done, committed...)
		st, err := sqlite.Open(dbPath)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		checkWholeTracks(t, st, dbPath, chunks, done)
		st.Close()
	}

	st, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Ingesting everything again completes, keeps the committed tracks and
	// adds the rest.
	srv, err := tracker.New(tracker.Options{Store: st, Argon2: trackertest.CheapArgon2, ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	seen := map[string]bool{}
	for i := range crashFiles {
		sum, created, err := srv.Ingest(context.Background(), crashSource(src, i), dirSink{chunks}, nil)
		if err != nil {
			t.Fatalf("re-ingest %d: %v", i, err)
		}
		if created && slices.Contains(done, sum.ID) {
			t.Errorf("re-ingest %d created %s, which a child had committed", i, sum.ID)
		}
		seen[sum.ID] = true
	}
	for _, id := range done {
		if !seen[id] {
			t.Errorf("committed track %s not found by re-ingesting its file", id)
		}
	}
	checkWholeTracks(t, st, dbPath, chunks, done)
	if _, total, err := st.ListTracks(context.Background(), 1, 0); err != nil || total != crashFiles {
		t.Fatalf("tracks after re-ingest = %d, %v; want %d", total, err, crashFiles)
	}
}

// checkWholeTracks asserts that every visible track is whole: manifest,
// valid signature, key, search entry and every chunk in the sink; that
// every track in mustHave is visible; and that no key or search row exists
// without its track.
func checkWholeTracks(t *testing.T, st store.Store, dbPath, chunks string, mustHave []string) {
	t.Helper()
	ctx := context.Background()
	keys, err := st.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		pub[k.ID] = k.PublicKey
	}
	list, total, err := st.ListTracks(ctx, crashFiles+1, 0)
	if err != nil || total != len(list) {
		t.Fatalf("ListTracks = %d of %d, %v", len(list), total, err)
	}
	visible := map[string]bool{}
	for _, m := range list {
		visible[m.ID] = true
		tr, err := st.Track(ctx, m.ID)
		if err != nil {
			t.Fatalf("Track(%s) = %v", m.ID, err)
		}
		man, err := catalog.VerifyManifest(m.ID, tr.Manifest, tr.KeyID, tr.Signature, pub)
		if err != nil {
			t.Fatalf("track %s: manifest does not verify: %v", m.ID, err)
		}
		key, err := st.TrackKey(ctx, m.ID)
		if err != nil || len(key) != catalog.TrackKeySize {
			t.Fatalf("track %s: key %d bytes, %v", m.ID, len(key), err)
		}
		found, _, err := st.SearchTracks(ctx, m.Title, 10, 0)
		if err != nil || !containsID(found, m.ID) {
			t.Fatalf("track %s: search for %q = %v, %v; want it found", m.ID, m.Title, found, err)
		}
		for i, c := range man.Chunks {
			data, err := os.ReadFile(filepath.Join(chunks, c.CID.String()))
			if err != nil || !catalog.VerifyCID(c.CID, data) {
				t.Fatalf("track %s chunk %d (%s): %v or bad hash", m.ID, i, c.CID, err)
			}
		}
	}
	for _, id := range mustHave {
		if !visible[id] {
			t.Errorf("track %s reported committed is not visible", id)
		}
	}
	// No orphan key or search rows: counted straight from the tables.
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"tracks", "track_keys", "track_search"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != len(list) {
			t.Errorf("%s has %d rows (%v); want %d, one per visible track", table, n, err, len(list))
		}
	}
	// Leftover temp files are possible (the kill can land mid-write), but
	// every chunk file under its CID name is whole.
	filepath.WalkDir(chunks, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "tmp-") {
			return err
		}
		c, err := cid.Decode(d.Name())
		if err != nil {
			t.Errorf("stray file %s in sink", d.Name())
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil || !catalog.VerifyCID(c, data) {
			t.Errorf("chunk file %s is torn", d.Name())
		}
		return nil
	})
}

// runCrashChild starts the test binary as a child ingesting into dir, kills
// it with SIGKILL once it has reported wait new tracks, and returns the IDs
// it reported.
func runCrashChild(t *testing.T, dir string, wait int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestIngestSurvivesSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var created []string
	finished, killed := false, false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "new "):
			created = append(created, strings.TrimPrefix(line, "new "))
			if len(created) == wait && !killed {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatalf("kill child: %v", err)
				}
				killed = true
			}
		case line == "finished":
			finished = true
		}
	}
	werr := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("child timed out: %v", werr)
	}
	if !killed {
		t.Fatalf("child created %d tracks and exited (%v) before the kill", len(created), werr)
	}
	var ee *exec.ExitError
	if finished {
		t.Logf("child finished all ingests before SIGKILL landed; checking the store anyway")
	} else if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child exit = %v; want killed by SIGKILL", werr)
	}
	return created
}

func containsID(ms []store.TrackMeta, id string) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}
