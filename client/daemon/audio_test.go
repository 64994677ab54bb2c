package daemon_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/daemon/daemontest"
)

// get fetches the audio URL with an optional Range header, without the
// API key (the per-play token is in the URL).
func get(t *testing.T, url, rng string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("GET %s (Range %q): %v", url, rng, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s (Range %q): read: %v", url, rng, err)
	}
	return resp, data
}

// playPaused starts a track and pauses it, so the play stays current
// while the test reads its audio.
func playPaused(a api, id string) daemon.Status {
	a.t.Helper()
	var st daemon.Status
	a.ok("POST", "/api/play", fmt.Sprintf(`{"id":%q}`, id), &st)
	a.ok("POST", "/api/pause", "", &st)
	return st
}

func TestAudioRanges(t *testing.T) {
	// Peers hold the track, so a paused play still buffers all of it (an
	// origin is asked only 15 s of audio ahead of the playhead).
	s, a := startSwarm(t, daemontest.Options{})
	src := sourceFile(t, 0)
	st := playPaused(a, s.Tracks[0].ID)
	url := a.url + st.AudioURL
	size := len(src)

	resp, body := get(t, url, "")
	if resp.StatusCode != 200 || !bytes.Equal(body, src) {
		t.Fatalf("GET without Range = %d, %d bytes equal to the source: %v; want 200 and the %d-byte source", resp.StatusCode, len(body), bytes.Equal(body, src), size)
	}
	for k, want := range map[string]string{
		"Content-Type":   "audio/wav",
		"Content-Length": strconv.Itoa(size),
		"Accept-Ranges":  "bytes",
		"Cache-Control":  "no-store",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	for _, c := range []struct {
		rng        string
		start, end int // inclusive
	}{
		{"bytes=0-99", 0, 99},
		{"bytes=150000-170000", 150000, 170000},
		{"bytes=16380-16390", 16380, 16390}, // across a chunk boundary
		{fmt.Sprintf("bytes=%d-", size-1000), size - 1000, size - 1},
		{"bytes=-128", size - 128, size - 1},
		{fmt.Sprintf("bytes=%d-%d", size-10, size+5000), size - 10, size - 1},
		{"bytes=5000-", 5000, size - 1},
	} {
		resp, body := get(t, url, c.rng)
		wantCR := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size)
		if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != wantCR || !bytes.Equal(body, src[c.start:c.end+1]) {
			t.Errorf("Range %s = %d %q, %d bytes (equal: %v); want 206 %q and source[%d:%d]", c.rng, resp.StatusCode,
				resp.Header.Get("Content-Range"), len(body), bytes.Equal(body, src[c.start:c.end+1]), wantCR, c.start, c.end+1)
		}
	}
	if resp, _ := get(t, url, fmt.Sprintf("bytes=%d-", size)); resp.StatusCode != 416 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
		t.Errorf("Range past the end = %d %q; want 416 bytes */%d", resp.StatusCode, resp.Header.Get("Content-Range"), size)
	}
	// A wrong token and a missing one.
	if resp, _ := get(t, a.url+"/audio/current?t=nope", ""); resp.StatusCode != http.StatusGone {
		t.Errorf("audio with a wrong token = %d; want 410", resp.StatusCode)
	}
	if resp, _ := get(t, a.url+"/audio/current", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("audio without token or key = %d; want 401", resp.StatusCode)
	}
	// The token ends with its play.
	a.ok("POST", "/api/play", fmt.Sprintf(`{"id":%q}`, s.Tracks[1].ID), nil)
	if resp, _ := get(t, url, "bytes=0-9"); resp.StatusCode != http.StatusGone {
		t.Errorf("old play's URL after a new play = %d; want 410", resp.StatusCode)
	}
}

// TestTailProbeKeepsPosition reads the stream as a player does, probes
// the file's tail in between (as ffprobe and mpv do for ID3v1), and checks
// that neither the scheduler's playhead nor the stream's read position
// moved.
func TestTailProbeKeepsPosition(t *testing.T) {
	s, a := startSwarm(t, daemontest.Options{Peers: -1, Speed: 1})
	src := sourceFile(t, 2) // 30 s
	var st daemon.Status
	a.ok("POST", "/api/play", fmt.Sprintf(`{"id":%q}`, s.Tracks[2].ID), &st)
	url := a.url + st.AudioURL
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 40000)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	before := a.waitStatus("playing", 30*time.Second, func(s daemon.Status) bool { return s.State == "playing" })
	tresp, tail := get(t, url, "bytes=-128")
	if tresp.StatusCode != 206 || !bytes.Equal(tail, src[len(src)-128:]) {
		t.Fatalf("tail probe = %d, %d bytes; want 206 and the source's last 128", tresp.StatusCode, len(tail))
	}
	after := a.status()
	// At speed 1 the playhead moves a few hundred ms between the two
	// readings; a seek to the tail would put it near 30 000.
	if after.Play.SchedulerPositionMS > before.Play.SchedulerPositionMS+5000 || after.PositionMS > before.PositionMS+5000 {
		t.Errorf("after a tail probe the playhead went from %d (scheduler %d) to %d (scheduler %d) ms",
			before.PositionMS, before.Play.SchedulerPositionMS, after.PositionMS, after.Play.SchedulerPositionMS)
	}
	more := make([]byte, 40000)
	if _, err := io.ReadFull(resp.Body, more); err != nil {
		t.Fatalf("the stream broke after a tail probe: %v", err)
	}
	if !bytes.Equal(append(head, more...), src[:80000]) {
		t.Error("the stream's bytes after a tail probe differ from the source: its read position moved")
	}
}

// TestFFprobeReadsTheStream runs Debian's ffprobe on the audio URL, for a
// WAV track and for an MP3 whose tags are ID3v1 (at the tail).
func TestFFprobeReadsTheStream(t *testing.T) {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ffprobe is missing: apt-get install ffmpeg (.ci/run does)")
		}
		t.Skip("ffprobe not installed (apt-get install ffmpeg)")
	}
	mp3 := filepath.Join("..", "..", "catalog", "testdata", "id3v1.mp3")
	s, a := startSwarm(t, daemontest.Options{Peers: -1, Files: []string{mp3}})
	for _, c := range []struct {
		id, format, title string
		seconds           float64
	}{
		{s.Tracks[0].ID, "wav", "", 20},
		{s.Tracks[3].ID, "mp3", "Old Title", 3.07},
	} {
		st := playPaused(a, c.id)
		out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration,format_name:format_tags=title", "-of", "json", a.url+st.AudioURL).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", st.AudioURL, err, out)
		}
		var probe struct {
			Format struct {
				Name     string            `json:"format_name"`
				Duration string            `json:"duration"`
				Tags     map[string]string `json:"tags"`
			} `json:"format"`
		}
		if err := json.Unmarshal(out, &probe); err != nil {
			t.Fatalf("ffprobe output: %v\n%s", err, out)
		}
		dur, _ := strconv.ParseFloat(probe.Format.Duration, 64)
		if probe.Format.Name != c.format || dur < c.seconds-0.1 || dur > c.seconds+0.1 || probe.Format.Tags["title"] != c.title {
			t.Errorf("ffprobe of %s = %+v; want format %s, %.2f s, title %q", c.format, probe.Format, c.format, c.seconds, c.title)
		}
		if !strings.Contains(string(out), c.format) {
			t.Errorf("ffprobe output lacks %s", c.format)
		}
	}
}
