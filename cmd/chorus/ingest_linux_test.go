//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/internal/chunkstore"
	"github.com/chorus-music/chorus/tracker"
)

// blockReads makes every read of path block until the returned release is
// called (or the test ends): a fanotify permission mark, which the kernel
// holds each read on until this process answers. It returns a channel
// that receives once a read of the file is waiting, and release. Marks
// need CAP_SYS_ADMIN.
func blockReads(t *testing.T, path string) (waiting <-chan struct{}, release func()) {
	t.Helper()
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC, unix.O_RDONLY)
	if err != nil {
		if errors.Is(err, unix.EPERM) && os.Getenv("CI") == "" {
			t.Skipf("fanotify needs CAP_SYS_ADMIN: %v", err)
		}
		t.Fatalf("fanotify_init: %v", err)
	}
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, unix.FAN_ACCESS_PERM, unix.AT_FDCWD, path); err != nil {
		unix.Close(fd)
		t.Fatalf("fanotify_mark %s: %v", path, err)
	}
	ch := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		n, err := unix.Read(fd, buf) // the first access event: a read is held
		if err == nil && n >= int(unsafe.Sizeof(unix.FanotifyEventMetadata{})) {
			ch <- struct{}{}
		}
	}()
	done := false
	release = func() {
		if !done {
			done = true
			unix.Close(fd) // closing the group allows every held access
		}
	}
	t.Cleanup(release)
	return ch, release
}

// TestIngestSignalDuringBlockedRead: SIGINT or SIGTERM stops an ingest at
// once even while it is stuck in a read that does not return (here held
// by fanotify, as a hung network file system would hold it): the process
// exits promptly, says it was interrupted, and leaves no track.
func TestIngestSignalDuringBlockedRead(t *testing.T) {
	bin := buildChorus(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			data := t.TempDir()
			src := filepath.Join(t.TempDir(), "slow.flac")
			b, err := os.ReadFile(testdata("flac.flac"))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(src, b, 0o644)
			waiting, release := blockReads(t, src)
			cmd := exec.Command(bin, "ingest", "--quiet", "--data", data, src)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			select {
			case <-waiting:
			case <-time.After(time.Minute):
				t.Fatalf("ingest never read the file\n%s", stderr.String())
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			sent := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err == nil {
					t.Errorf("ingest exited 0 after %v; want a failure status", sig)
				}
				if d := time.Since(sent); d > 10*time.Second {
					t.Errorf("ingest took %v to exit after %v; want prompt", d, sig)
				}
			case <-time.After(20 * time.Second):
				release()
				t.Fatalf("ingest still running 20 s after %v, blocked in a read\n%s", sig, stderr.String())
			}
			if !strings.Contains(stderr.String(), "ingest interrupted") {
				t.Errorf("ingest said %q after %v; want that it was interrupted", stderr.String(), sig)
			}
			t.Logf("%v: %s", sig, strings.TrimSpace(stderr.String()))
		})
	}
}

// chunkWatch counts the chunk files renamed into place in a chunk store
// directory, from inotify events (the store renames each chunk from a
// temporary file), so that a test can act when the N-th chunk lands.
type chunkWatch struct {
	fd    int
	dirs  map[int32]string
	names map[string]bool
}

func watchChunks(t *testing.T, dir string) *chunkWatch {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify_init: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	w := &chunkWatch{fd: fd, dirs: map[int32]string{}, names: map[string]bool{}}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_ONLYDIR); err != nil {
		t.Fatalf("inotify_add_watch %s: %v", dir, err)
	}
	w.dirs[-1] = dir
	return w
}

// watchShard starts watching a shard directory and counts what is already
// in it (chunks renamed before the watch began).
func (w *chunkWatch) watchShard(t *testing.T, dir string) {
	wd, err := unix.InotifyAddWatch(w.fd, dir, unix.IN_MOVED_TO)
	if err != nil {
		return // removed meanwhile
	}
	w.dirs[int32(wd)] = dir
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			w.names[e.Name()] = true
		}
	}
}

// waitFor reads events until n chunk files are in place.
func (w *chunkWatch) waitFor(t *testing.T, n int, deadline time.Time) {
	t.Helper()
	buf := make([]byte, 64<<10)
	for len(w.names) < n {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			t.Fatalf("only %d chunk files appeared; want %d", len(w.names), n)
		}
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, ms); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatalf("poll: %v", err)
		}
		k, err := unix.Read(w.fd, buf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("read inotify: %v", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= k; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			switch {
			case ev.Mask&unix.IN_CREATE != 0 && ev.Mask&unix.IN_ISDIR != 0:
				w.watchShard(t, filepath.Join(w.dirs[-1], name))
			case ev.Mask&unix.IN_MOVED_TO != 0 && !strings.HasPrefix(name, "."):
				w.names[name] = true
			}
		}
	}
}

// storeMatchesCatalog checks that the chunk store of data holds exactly the
// chunks its catalog's manifests refer to.
func storeMatchesCatalog(t *testing.T, data, when string) {
	t.Helper()
	env := &cmdEnv{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, log: slog.New(slog.DiscardHandler)}
	srv, closeTracker, err := openTracker(env, data, "", tracker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeTracker()
	refs, err := srv.ReferencedChunks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, err := chunkstore.Open(chunkstore.Options{Dir: trackerHome{data}.chunks()})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, e := range ents {
		held[e.CID.KeyString()] = true
		if !refs[e.CID.KeyString()] {
			t.Errorf("%s: the store holds %s, which no track refers to", when, e.CID)
		}
	}
	for k := range refs {
		if !held[k] {
			t.Errorf("%s: a track refers to a chunk the store lacks", when)
		}
	}
	t.Logf("%s: %d chunks, all referenced (%d references)", when, len(held), len(refs))
}

// TestIngestCrash kills ingest child processes with SIGKILL when the chunk
// store reaches fixed chunk counts (the first chunk, the middle, the last)
// and after the catalog commit. Afterwards the store holds exactly the
// chunks the catalog refers to, either after `chorus gc` or after the next
// ingest (which collects what an interrupted one left), and a re-ingest
// completes.
func TestIngestCrash(t *testing.T) {
	bin := buildChorus(t)
	src := filepath.Join(t.TempDir(), "Crash Artist - Long Take.wav")
	if err := samples.WriteFile(src, samples.Spec{Seconds: 12, SampleRate: 44100, Channels: 2, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(src)
	const chunkSize = 16 << 10 // catalog.ChunkSize
	total := int((fi.Size() + chunkSize - 1) / chunkSize)
	for _, kp := range []struct {
		name   string
		chunks int  // kill when this many chunk files are in the store
		commit bool // kill once the track is committed instead
		thenGC bool // run chorus gc before the re-ingest
		other  bool // ingest another file first: its start collects the orphans
	}{
		{name: "first chunk", chunks: 1, other: true},
		{name: "middle", chunks: total / 2, thenGC: true},
		{name: "last chunk", chunks: total, other: true},
		{name: "after commit", commit: true, thenGC: true},
	} {
		t.Run(kp.name, func(t *testing.T) {
			data := t.TempDir()
			w := watchChunks(t, trackerHome{data}.chunks())
			cmd := exec.Command(bin, "ingest", "--quiet", "--data", data, src)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			if kp.commit {
				line, err := bufio.NewReader(stdout).ReadString('\n')
				if err != nil || !strings.Contains(line, "\tadded\t") {
					t.Fatalf("ingest printed %q, %v; want the added line\n%s", line, err, stderr.String())
				}
			} else {
				w.waitFor(t, kp.chunks, time.Now().Add(time.Minute))
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			t.Logf("killed at %d of %d chunk files", len(chunkFiles(t, trackerHome{data}.chunks())), total)
			if kp.thenGC {
				out := mustRun(t, bin, data, "", "gc")
				t.Logf("gc: %s", strings.TrimSpace(out))
				storeMatchesCatalog(t, data, "after gc")
			}
			if kp.other {
				// Chunks are the same on every attempt (the key derives
				// from the source), so a re-ingest of src would adopt the
				// orphans: ingest another file to see them collected.
				mustRun(t, bin, data, "", "ingest", "--quiet", testdata("flac.flac"))
				storeMatchesCatalog(t, data, "after another ingest")
			}
			out := mustRun(t, bin, data, "", "ingest", "--quiet", src)
			if !strings.Contains(out, "\tadded\t") && !strings.Contains(out, "already in the catalog") {
				t.Fatalf("re-ingest said %q; want the track added or already there", out)
			}
			storeMatchesCatalog(t, data, "after re-ingest")
			if n, want := len(chunkFiles(t, trackerHome{data}.chunks())), total+map[bool]int{true: 7}[kp.other]; n != want {
				t.Errorf("store holds %d chunk files after the re-ingest; want %d", n, want)
			}
		})
	}
}

// TestGCWaitsForIngest: `chorus gc` refuses while an ingest holds the
// data directory, and so never touches the chunks of an ingest in
// progress.
func TestGCRefusesDuringIngest(t *testing.T) {
	bin := buildChorus(t)
	data := t.TempDir()
	src := filepath.Join(t.TempDir(), "held.flac")
	b, _ := os.ReadFile(testdata("flac.flac"))
	os.WriteFile(src, b, 0o644)
	waiting, release := blockReads(t, src)
	cmd := exec.Command(bin, "ingest", "--quiet", "--data", data, src)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	<-waiting // the ingest holds its lock and is reading
	_, stderr, err := chorusRun(t, bin, data, "", "gc")
	if err == nil || !strings.Contains(stderr, "an ingest is running") {
		t.Errorf("gc during an ingest = %v, %q; want a refusal saying an ingest is running", err, stderr)
	}
	release()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ingest after the read was released: %v", err)
	}
	out := mustRun(t, bin, data, "", "gc")
	if !strings.Contains(out, "removed 0 chunks") {
		t.Errorf("gc after the ingest said %q; want nothing removed", out)
	}
	storeMatchesCatalog(t, data, "after gc")
}
