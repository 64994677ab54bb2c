package daemon

import (
	"bufio"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/internal/clock"
)

// TestEventsHeartbeatAndChanges drives the event stream on a fake clock:
// a status at once, a ping comment every 15 s, a status on each change.
// The daemon is not connected (its tracker is never reached): the stream
// works before the daemon has a session.
func TestEventsHeartbeatAndChanges(t *testing.T) {
	dir := t.TempDir()
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{Paths: Paths{Config: filepath.Join(dir, "c"), Cache: filepath.Join(dir, "k")}, Config: DefaultConfig(), API: ln, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.handler()}
	go srv.Serve(ln)
	defer srv.Close()

	req, _ := http.NewRequest("GET", d.URL()+"/api/events", nil)
	req.Header.Set("X-API-Key", d.APIKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type = %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func(want string) string {
		t.Helper()
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, want) {
				return l
			}
		}
		t.Fatalf("event stream ended before a line %q: %v", want, lines.Err())
		return ""
	}
	next("event: status")
	if l := next("data: "); !strings.Contains(l, `"state":"stopped"`) || !strings.Contains(l, `"connected":false`) {
		t.Fatalf("first status = %s", l)
	}
	fake.Advance(15 * time.Second)
	next(": ping")
	d.events.notify()
	next("event: status")
}
