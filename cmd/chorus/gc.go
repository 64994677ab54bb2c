package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/chorus-music/chorus/internal/atomicfile"
	"github.com/chorus-music/chorus/internal/flock"
	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/tracker"
)

// gcResult is what a collection did.
type gcResult struct {
	removed, kept int
	freed         int64
	temps         int
}

// catalogID names the catalog a tracker serves: the ID of its first
// signing key, which rotations keep.
func catalogID(srv *tracker.Server) string {
	keys := srv.Keyring().Published().Keys
	for _, k := range keys {
		if k.EndorsedBy == "" {
			return k.KeyID
		}
	}
	if len(keys) > 0 {
		return keys[0].KeyID
	}
	return ""
}

// checkChunksBelong makes sure the data directory's chunks belong to
// srv's catalog before an ingest adds to them or a collection removes what
// that catalog does not refer to: a collection run against the wrong
// store (a mistyped --store) would otherwise remove every chunk. The first
// ingest or gc records the catalog in DATA/chunks-catalog.
func checkChunksBelong(home trackerHome, srv *tracker.Server) error {
	id := catalogID(srv)
	b, err := os.ReadFile(home.catalogFile())
	if errors.Is(err, fs.ErrNotExist) {
		return atomicfile.WriteFile(home.catalogFile(), []byte(id+"\n"), atomicfile.Options{})
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", home.catalogFile(), err)
	}
	if got := strings.TrimSpace(string(b)); got != id {
		return fmt.Errorf("the chunks in %s belong to the catalog whose first signing key is %s, but this store's is %s: "+
			"check --store (nothing was changed)", home.chunks(), got, id)
	}
	return nil
}

// collectChunks removes every chunk no track refers to, and every
// temporary file. The caller holds the ingest lock exclusively, so no
// ingest is writing chunks the catalog does not refer to yet.
func collectChunks(ctx context.Context, srv *tracker.Server, chunks *origin.DirStore) (gcResult, error) {
	var res gcResult
	refs, err := srv.ReferencedChunks(ctx)
	if err != nil {
		return res, err
	}
	ents, err := chunks.List()
	if err != nil {
		return res, err
	}
	for _, e := range ents {
		if refs[e.CID.KeyString()] {
			res.kept++
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := chunks.Remove(e.CID); err != nil {
			return res, err
		}
		res.removed++
		res.freed += e.Size
	}
	res.temps, err = chunks.RemoveAllTemp()
	return res, err
}

// runGC is `chorus gc`: remove the chunks no track refers to, which
// interrupted or failed ingests leave behind. It never runs beside an
// ingest: it refuses while one holds the ingest lock.
func runGC(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "gc", "")
	dataDir := dataFlag(fs)
	storeURL := storeFlag(fs)
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	home := trackerHome{*dataDir}
	l, err := flock.TryLock(home.ingestLock(), flock.Exclusive, "chorus gc", time.Now())
	if errors.Is(err, flock.ErrLocked) {
		return fmt.Errorf("an ingest is running on %s; run chorus gc again once it has ended (gc never touches the chunks of an ingest in progress)", *dataDir)
	}
	if err != nil {
		return err
	}
	defer l.Release()
	srv, closeTracker, err := openTracker(env, *dataDir, *storeURL, tracker.Options{})
	if err != nil {
		return err
	}
	defer closeTracker()
	if err := checkChunksBelong(home, srv); err != nil {
		return err
	}
	chunks, err := origin.OpenDirStore(home.chunks())
	if err != nil {
		return err
	}
	res, err := collectChunks(ctx, srv, chunks)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	clearPending(home)
	fmt.Fprintf(env.stdout, "gc: removed %d chunks (%s) that no track refers to, and %d temporary files; kept %d chunks\n",
		res.removed, mib(res.freed), res.temps, res.kept)
	return nil
}
