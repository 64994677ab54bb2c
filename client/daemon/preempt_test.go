package daemon_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client/daemon"
	"github.com/chorus-music/chorus/client/daemon/daemontest"
)

// TestSeekWhileTheOldRequestIsNotRead does what ffprobe and mpv do: open
// the stream, read a little, then open a second request at another offset
// while the first connection stays open and unread. The first request's
// handler is then blocked writing into a full socket; the second request
// must still be answered at once (it preempts the first), not wait for a
// client that will never read again.
func TestSeekWhileTheOldRequestIsNotRead(t *testing.T) {
	// A CD-quality track, far larger than the socket buffers, so the
	// first handler really blocks in its write.
	big := samples.Named{FileName: "Test Ensemble - Big Wave.wav", Spec: samples.Spec{Seconds: 30, SampleRate: 44100, Channels: 2, Seed: 21}}
	s, a := startSwarm(t, daemontest.Options{Tracks: []samples.Named{big}})
	var src bytes.Buffer
	if err := samples.WriteWAV(&src, big.Spec); err != nil {
		t.Fatal(err)
	}
	var st daemon.Status
	a.ok("POST", "/api/play", fmt.Sprintf(`{"id":%q}`, s.Tracks[0].ID), &st)
	// Wait until the cache holds the whole track, as in a replay, so the
	// first handler never waits for a chunk: it writes until the socket
	// is full.
	a.waitStatus("the whole track cached", time.Minute, func(st daemon.Status) bool {
		return len(st.Buffered) == 1 && st.Buffered[0].StartMS == 0 && st.Buffered[0].EndMS >= st.DurationMS
	})

	host := strings.TrimPrefix(a.url, "http://")
	first, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	fmt.Fprintf(first, "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=0-\r\n\r\n", st.AudioURL, host)
	br := bufio.NewReader(first)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("first request = %d; want 206", resp.StatusCode)
	}
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatalf("first request's body: %v", err)
	}
	if !bytes.Equal(head, src.Bytes()[:len(head)]) {
		t.Fatal("first request's body differs from the source")
	}
	// From here on the first connection is never read again.

	req, _ := http.NewRequest("GET", a.url+st.AudioURL, nil)
	req.Header.Set("Range", "bytes=44-")
	done := make(chan error, 1)
	var got []byte
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent {
			done <- fmt.Errorf("second request = %d; want 206", resp.StatusCode)
			return
		}
		got = make([]byte, 4096)
		_, err = io.ReadFull(resp.Body, got)
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("a second request while the first stays unread: %v (the first one's blocked write holds the stream)", err)
	}
	if !bytes.Equal(got, src.Bytes()[44:44+len(got)]) {
		t.Error("second request's body differs from the source at its offset")
	}
}
