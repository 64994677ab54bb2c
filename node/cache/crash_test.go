package cache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/chorus-music/chorus/catalog"
)

// The crash test re-executes the test binary as a child that fills a cache
// in a loop, and SIGKILLs it mid-stream.
const (
	crashEnvDir   = "CHORUS_CACHE_CRASH_DIR"
	crashEnvStart = "CHORUS_CACHE_CRASH_START"
	crashMax      = 64 * 4096 // small enough that the child evicts while it runs
	crashLimit    = 2000      // the child's own bound on puts, if never killed
	crashKillAt   = 100       // puts reported before the parent kills
	crashRounds   = 3
)

// crashChunk is the i-th chunk the child writes: 1 to 8 KiB.
func crashChunk(i int) ([]byte, string) {
	id, data := chunk(uint64(i)+1_000_000, 1024+(i*997)%7168)
	return data, id.String()
}

// TestCrashHelper is the child process of TestCrashSafety; run directly it
// skips.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	start, err := strconv.Atoi(os.Getenv(crashEnvStart))
	if err != nil {
		t.Fatalf("bad %s: %v", crashEnvStart, err)
	}
	c, err := Open(Options{Dir: dir, MaxBytes: crashMax})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	ctx := context.Background()
	for i := start; i < start+crashLimit; i++ {
		data, _ := crashChunk(i)
		id := catalog.ChunkCID(data)
		if err := c.Put(ctx, id, data); err != nil {
			t.Fatalf("Put(%s) = %v", id, err)
		}
		if i%3 == 0 {
			old, _ := crashChunk(start + (i-start)/2)
			c.Get(ctx, catalog.ChunkCID(old)) // a use, or a miss
		}
		// os.Stdout is unbuffered: the line is out before the next Put.
		fmt.Printf("put %d %s\n", i, id)
	}
	c.Close()
}

// TestCrashSafety kills a writing child with SIGKILL, several times over
// the same directory, and checks after each crash that the reopened cache
// serves every chunk it lists, lists no temporary file, holds only chunks
// the child wrote, and keeps its bound.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	known := map[string]bool{}
	for i := range crashRounds * crashLimit {
		_, s := crashChunk(i)
		known[s] = true
	}
	for round := range crashRounds {
		last := runCrashChild(t, dir, round*crashLimit)
		_, pre := diskBytes(t, dir)
		t.Logf("round %d: the crash left %d temporary files", round, pre)

		c, err := Open(Options{Dir: dir, MaxBytes: crashMax})
		if err != nil {
			t.Fatalf("round %d: Open after crash = %v", round, err)
		}
		ids := c.List()
		if len(ids) == 0 {
			t.Errorf("round %d: List() after crash is empty; the child reported %s", round, last)
		}
		for _, id := range ids {
			if !known[id.String()] {
				t.Errorf("round %d: List() has %s, which the child never wrote", round, id)
			}
			data, err := c.Get(context.Background(), id)
			if err != nil || !catalog.VerifyCID(id, data) {
				t.Errorf("round %d: Get(%s) after crash = %d bytes, %v; want a chunk that verifies", round, id, len(data), err)
			}
		}
		if got := c.Size(); got > crashMax {
			t.Errorf("round %d: Size() after crash = %d; want <= %d", round, got, crashMax)
		}
		disk, temps := diskBytes(t, dir)
		if temps != 0 {
			t.Errorf("round %d: %d temporary files after Open; want 0", round, temps)
		}
		if disk != c.Size() {
			t.Errorf("round %d: %d bytes on disk; want Size() = %d", round, disk, c.Size())
		}
		if err := c.Close(); err != nil {
			t.Fatalf("round %d: Close() = %v", round, err)
		}
	}
}

// runCrashChild starts the child at chunk start, waits until it has
// reported crashKillAt puts, SIGKILLs it and returns the last CID reported.
func runCrashChild(t *testing.T, dir string, start int) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvStart+"="+strconv.Itoa(start))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	var n int
	var last, tail string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "put" {
			tail = line
			continue
		}
		n++
		last = f[2]
		if n == crashKillAt {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill child: %v", err)
			}
			break
		}
	}
	for sc.Scan() { // drain what the child wrote before it died
	}
	err = cmd.Wait()
	if n < crashKillAt {
		t.Fatalf("child reported %d puts before exiting (%v); want %d\nlast line: %s\nstderr:\n%s", n, err, crashKillAt, tail, stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child Wait() = %v; want killed", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child Wait() = %v; want killed by SIGKILL", err)
	}
	return last
}
