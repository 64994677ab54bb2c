package main

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// farFuture is a cutoff after every temporary file's time.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

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
	res.temps, err = chunks.RemoveTemp(farFuture)
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
