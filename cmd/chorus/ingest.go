package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/atomicfile"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/internal/flock"
	"github.com/chorus-music/chorus/origin"
	"github.com/chorus-music/chorus/tracker"
)

// Files of a tracker's data directory that ingest and gc use.
func (h trackerHome) ingestSecret() string { return filepath.Join(h.dir, "ingest-secret") }
func (h trackerHome) ingestLock() string   { return filepath.Join(h.dir, "ingest.lock") }
func (h trackerHome) pendingDir() string   { return filepath.Join(h.dir, "ingest-pending") }
func (h trackerHome) catalogFile() string  { return filepath.Join(h.dir, "chunks-catalog") }

// ingestSecretSize is the length of a new ingest secret.
const ingestSecretSize = 32

// loadIngestSecret reads the data directory's ingest secret, making one on
// first use. It derives every track key (tracker.DeriveTrackKey): a backup
// of the data directory must keep it.
func loadIngestSecret(h trackerHome) ([]byte, error) {
	b, err := os.ReadFile(h.ingestSecret())
	if errors.Is(err, fs.ErrNotExist) {
		b = make([]byte, ingestSecretSize)
		rand.Read(b)
		if err := os.MkdirAll(h.dir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		f, err := os.OpenFile(h.ingestSecret(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadIngestSecret(h) // another ingest made it first
		}
		if err != nil {
			return nil, fmt.Errorf("create ingest secret: %w", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			os.Remove(h.ingestSecret())
			return nil, fmt.Errorf("write ingest secret: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("write ingest secret: %w", err)
		}
		f.Close()
		return b, atomicfile.SyncDir(h.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read ingest secret: %w", err)
	}
	if len(b) < ingestSecretSize {
		return nil, fmt.Errorf("ingest secret %s holds %d bytes, want %d: restore it from a backup (track keys derive from it)", h.ingestSecret(), len(b), ingestSecretSize)
	}
	return b, nil
}

// audioExts are the file endings ingest picks up from directories.
var audioExts = map[string]bool{".wav": true, ".ogg": true, ".oga": true, ".mp3": true, ".flac": true}

// sourceFile is one file to ingest.
type sourceFile struct {
	path string
	size int64
}

// findAudio expands FILES|DIRS into the files to ingest, sorted and
// without repeats. A file named directly is ingested whatever it is (the
// ingest refuses what is not audio, saying why); in a directory, only
// files with an audio ending. A directory holding none is a problem of its
// own, reported with the others.
func findAudio(args []string) (files []sourceFile, problems []error) {
	seen := map[string]bool{}
	add := func(p string, size int64) {
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			files = append(files, sourceFile{path: p, size: size})
		}
	}
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil || !fi.IsDir() {
			var size int64
			if err == nil && fi.Mode().IsRegular() {
				size = fi.Size()
			}
			add(a, size) // the ingest reports what is wrong with it
			continue
		}
		found := 0
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				problems = append(problems, &catalog.IngestError{Path: p, Err: unwrapPath(err)})
				return nil
			}
			if d.IsDir() || !audioExts[strings.ToLower(filepath.Ext(p))] {
				return nil
			}
			found++
			var size int64
			if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
				size = info.Size()
			}
			add(p, size)
			return nil
		})
		if err != nil {
			problems = append(problems, &catalog.IngestError{Path: a, Err: unwrapPath(err)})
		} else if found == 0 {
			problems = append(problems, &catalog.IngestError{Path: a, Err: errors.New("no audio files in this directory (looked for .flac, .mp3, .oga, .ogg, .wav)")})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, problems
}

// unwrapPath drops an *fs.PathError's path, which the caller names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// interruptGrace is how long an interrupted ingest waits for its worker to
// stop by itself before leaving without it.
const interruptGrace = 250 * time.Millisecond

// errInterrupted reports an ingest stopped by a signal.
var errInterrupted = errors.New("ingest interrupted: no half-ingested track is visible, and chunks it wrote are removed by the next ingest or `chorus gc`; run it again to finish")

func runIngest(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "ingest", "FILES|DIRS")
	dataDir := dataFlag(fs)
	storeURL := storeFlag(fs)
	quiet := fs.Bool("quiet", false, "no progress bar or progress lines")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) == 0 {
		fs.Usage()
		return errors.New("ingest needs FILES or DIRS")
	}
	files, problems := findAudio(posArgs)
	for _, p := range problems {
		fmt.Fprintf(env.stderr, "chorus ingest: %v\n", p)
	}
	if len(files) == 0 {
		return fmt.Errorf("%d of %d failed to ingest (the reasons are above)", len(problems), len(problems))
	}
	home := trackerHome{*dataDir}
	secret, err := loadIngestSecret(home)
	if err != nil {
		return err
	}
	srv, closeTracker, err := openTracker(env, *dataDir, *storeURL, tracker.Options{IngestSecret: secret})
	if err != nil {
		return err
	}
	chunks, err := origin.OpenDirStore(home.chunks())
	if err != nil {
		closeTracker()
		return err
	}
	session, err := beginIngest(ctx, env, home, srv, chunks)
	if err != nil {
		closeTracker()
		return err
	}

	var total int64
	for _, f := range files {
		total += f.size
	}
	prog := newProgress(env, total, *quiet, clock.Real{})
	done := make(chan int, 1) // the number of files that failed
	go func() {
		done <- ingestFiles(ctx, env, srv, chunks, files, prog)
	}()
	var failed int
	select {
	case failed = <-done:
	case <-ctx.Done():
		// The worker stops between reads and chunks; a read that blocks
		// (a hung network file system) must not hold the process: give it
		// interruptGrace, then leave without it. Nothing is lost by leaving:
		// chunks are renamed into place whole, the track commits in one
		// transaction, and our pending marker tells the next ingest to
		// collect the chunks this one wrote.
		select {
		case <-done:
			session.end(false)
			closeTracker()
		case <-time.After(interruptGrace):
		}
		prog.finish()
		return errInterrupted
	}
	prog.finish()
	session.end(failed == 0 && len(problems) == 0)
	closeTracker()
	if n := failed + len(problems); n > 0 {
		return fmt.Errorf("%d of %d failed to ingest (the reasons are above)", n, len(files)+len(problems))
	}
	return nil
}

// ingestFiles ingests each file, printing one line per file on stdout and
// one per failure on stderr, and returns how many failed.
func ingestFiles(ctx context.Context, env *cmdEnv, srv *tracker.Server, chunks *origin.DirStore, files []sourceFile, prog progress) int {
	var done int64
	failed := 0
	for _, f := range files {
		if ctx.Err() != nil {
			return failed
		}
		base := done
		t, created, err := srv.Ingest(ctx, f.path, chunks.Batch(), func(d, _ int64) { prog.set(base + d) })
		done = base + f.size
		prog.set(done)
		if err != nil {
			if ctx.Err() != nil {
				return failed
			}
			failed++
			prog.clear()
			fmt.Fprintf(env.stderr, "chorus ingest: %v\n", err)
			continue
		}
		state := "added"
		if !created {
			state = "already in the catalog"
		}
		prog.clear()
		fmt.Fprintf(env.stdout, "%s\t%s\t%s — %s (%s)\n", t.ID, state, t.Artist, t.Title, f.path)
	}
	return failed
}

// progress shows how far an ingest is.
type progress interface {
	set(done int64)
	clear() // before a line of other output
	finish()
}

// newProgress returns a bar on a terminal, a line every progressEvery
// elsewhere (a log file must not fill with redraws), or nothing if quiet.
func newProgress(env *cmdEnv, total int64, quiet bool, clk clock.Clock) progress {
	if quiet {
		return noProgress{}
	}
	if f, ok := env.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{bar: progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(env.stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("ingest"),
			progressbar.OptionShowCount(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(env.stderr) }),
		)}
	}
	return &lineProgress{w: env.stderr, total: total, clock: clk, last: clk.Now()}
}

type noProgress struct{}

func (noProgress) set(int64) {}
func (noProgress) clear()    {}
func (noProgress) finish()   {}

type barProgress struct{ bar *progressbar.ProgressBar }

func (b *barProgress) set(done int64) { b.bar.Set64(done) }
func (b *barProgress) clear()         { b.bar.Clear() }
func (b *barProgress) finish()        { b.bar.Finish() }

// progressEvery is the least time between two progress lines off a
// terminal.
const progressEvery = 5 * time.Second

type lineProgress struct {
	w     io.Writer
	total int64
	clock clock.Clock
	last  time.Time
	done  int64
}

func (l *lineProgress) set(done int64) {
	l.done = done
	if now := l.clock.Now(); now.Sub(l.last) >= progressEvery {
		l.last = now
		fmt.Fprintf(l.w, "ingest: %s of %s (%d%%)\n", mib(done), mib(l.total), percent(done, l.total))
	}
}
func (l *lineProgress) clear()  {}
func (l *lineProgress) finish() {}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func percent(a, b int64) int64 {
	if b <= 0 {
		return 100
	}
	return a * 100 / b
}

// ingestSession is one ingest run's hold on the data directory: a shared
// lock that `chorus gc` waits for, and a pending marker that survives a
// crash and tells the next ingest to collect what this one left.
type ingestSession struct {
	lock   *flock.Lock
	marker string
}

// beginIngest collects the chunks that interrupted ingests left (if any
// left a pending marker and none is running now), then takes the shared
// ingest lock and leaves its own marker.
func beginIngest(ctx context.Context, env *cmdEnv, home trackerHome, srv *tracker.Server, chunks *origin.DirStore) (*ingestSession, error) {
	if err := checkChunksBelong(home, srv); err != nil {
		return nil, err
	}
	if x, err := flock.TryLock(home.ingestLock(), flock.Exclusive, "chorus ingest (collecting)", time.Now()); err == nil {
		if markers, _ := os.ReadDir(home.pendingDir()); len(markers) > 0 {
			res, err := collectChunks(ctx, srv, chunks)
			if err != nil {
				x.Release()
				return nil, fmt.Errorf("collect chunks of interrupted ingests: %w", err)
			}
			if res.removed > 0 {
				fmt.Fprintf(env.stderr, "chorus ingest: removed %d chunks (%s) left by an interrupted ingest\n", res.removed, mib(res.freed))
			}
			clearPending(home)
		}
		x.Release()
	} else if !errors.Is(err, flock.ErrLocked) {
		return nil, err
	}
	l, err := flock.Acquire(ctx, home.ingestLock(), flock.Shared, "chorus ingest", time.Now())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(home.pendingDir(), 0o700); err != nil {
		l.Release()
		return nil, fmt.Errorf("data directory: %w", err)
	}
	f, err := os.CreateTemp(home.pendingDir(), fmt.Sprintf("pid%d-*", os.Getpid()))
	if err != nil {
		l.Release()
		return nil, fmt.Errorf("data directory: %w", err)
	}
	f.Close()
	if err := atomicfile.SyncDir(home.pendingDir()); err != nil {
		l.Release()
		os.Remove(f.Name())
		return nil, err
	}
	return &ingestSession{lock: l, marker: f.Name()}, nil
}

// end releases the session; clean (nothing failed after writing chunks)
// removes its pending marker, otherwise it stays for the next ingest.
func (s *ingestSession) end(clean bool) {
	if clean {
		os.Remove(s.marker)
	}
	s.lock.Release()
}

// clearPending removes every pending marker; the caller holds the ingest
// lock exclusively and has just collected.
func clearPending(home trackerHome) {
	ents, _ := os.ReadDir(home.pendingDir())
	for _, e := range ents {
		os.Remove(filepath.Join(home.pendingDir(), e.Name()))
	}
}
