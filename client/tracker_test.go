package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

// TestTrackerRenewsOnceForConcurrentCalls: when the access token has
// expired, concurrent calls renew the session once (a refresh token is good
// for one renewal) and all succeed.
func TestTrackerRenewsOnceForConcurrentCalls(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	h := trackertest.New(t, trackertest.WithClock(clk))
	h.CreateUser(t, "carol", trackertest.DefaultPassword)
	tr, err := client.NewTracker(client.TrackerOptions{URL: h.URL, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tr.Login(ctx, "carol", trackertest.DefaultPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	clk.Advance(time.Hour) // past the access token's lifetime
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := tr.Tracks(ctx, 10, 0)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Tracks after expiry = %v; want a renewed session", err)
		}
	}
}

// countingTransport counts the requests it carries, by path.
type countingTransport struct {
	mu    sync.Mutex // guards paths
	paths []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.paths = append(c.paths, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.paths
	c.paths = nil
	return p
}

// TestTrackerFreshPath: a restarted client with a saved session takes it
// up without a round trip, and its first play's manifest, key and the
// renewal of its expired access token cost one request; the network list
// is fetched once; Logout removes the saved session.
func TestTrackerFreshPath(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	h := trackertest.New(t, trackertest.WithClock(clk))
	h.CreateUser(t, "dora", trackertest.DefaultPassword)
	dir := t.TempDir()
	wav := filepath.Join(dir, "Fresh Band - Fresh Song.wav")
	if err := samples.WriteFile(wav, samples.Spec{Seconds: 1, SampleRate: 8000, Channels: 1}); err != nil {
		t.Fatal(err)
	}
	track := h.Ingest(t, wav, &trackertest.MemSink{})
	sessionFile := filepath.Join(dir, "session.json")
	open := func() (*client.Tracker, *countingTransport) {
		pins, err := client.OpenPins(filepath.Join(dir, "pins.json"))
		if err != nil {
			t.Fatal(err)
		}
		ct := &countingTransport{}
		tr, err := client.NewTracker(client.TrackerOptions{URL: h.URL, Clock: clk, Pins: pins, SessionFile: sessionFile,
			HTTPClient: &http.Client{Transport: ct}})
		if err != nil {
			t.Fatal(err)
		}
		return tr, ct
	}
	ctx := context.Background()
	first, _ := open()
	if ok, err := first.Resume(); ok || err != nil {
		t.Fatalf("Resume with no saved session = %v, %v; want false, nil", ok, err)
	}
	if err := first.Login(ctx, "dora", trackertest.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sessionFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved session: %v, %v; want a file of mode 0600", fi, err)
	}

	clk.Advance(time.Hour) // restarted after the access token expired
	tr, ct := open()
	if ok, err := tr.Resume(); !ok || err != nil {
		t.Fatalf("Resume = %v, %v; want the saved session", ok, err)
	}
	m, k, err := tr.Start(ctx, track.ID)
	if err != nil || m == nil || k == (catalog.TrackKey{}) {
		t.Fatalf("Start = %v, %v, %v; want manifest and key", m, k, err)
	}
	if got := ct.take(); len(got) != 1 || got[0] != "POST "+strings.Replace(protocol.PathStart, "{id}", track.ID, 1) {
		t.Errorf("requests for the first start = %v; want the one start request", got)
	}
	// The renewed session was saved: a third process resumes it without
	// a renewal.
	again, ct2 := open()
	if ok, err := again.Resume(); !ok || err != nil {
		t.Fatalf("Resume of the renewed session = %v, %v", ok, err)
	}
	if _, err := again.Key(ctx, track.ID); err != nil {
		t.Fatalf("Key with the renewed session: %v", err)
	}
	if got := ct2.take(); len(got) != 1 {
		t.Errorf("requests for a key with a fresh access token = %v; want one", got)
	}
	for range 3 {
		if _, err := again.Network(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := ct2.take(); len(got) != 1 {
		t.Errorf("requests for three Network calls = %v; want one", got)
	}
	if err := again.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sessionFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("session file after Logout: %v; want it removed", err)
	}
}

// TestTrackerStartOnOlderTracker: a tracker without the start route (an
// older one) still serves Start, through the separate manifest and key
// requests, and an unknown track is still ErrNotFound.
func TestTrackerStartOnOlderTracker(t *testing.T) {
	h := trackertest.New(t)
	h.CreateUser(t, "erin", trackertest.DefaultPassword)
	dir := t.TempDir()
	wav := filepath.Join(dir, "Old Band - Old Song.wav")
	if err := samples.WriteFile(wav, samples.Spec{Seconds: 1, SampleRate: 8000, Channels: 1}); err != nil {
		t.Fatal(err)
	}
	track := h.Ingest(t, wav, &trackertest.MemSink{})
	older := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/start") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"no such endpoint","code":"not_found"}`))
			return
		}
		h.Server.ServeHTTP(w, r)
	}))
	defer older.Close()
	tr, err := client.NewTracker(client.TrackerOptions{URL: older.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tr.Login(ctx, "erin", trackertest.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if m, _, err := tr.Start(ctx, track.ID); err != nil || m == nil {
			t.Fatalf("Start on an older tracker = %v, %v; want the manifest and key", m, err)
		}
	}
	if _, _, err := tr.Start(ctx, "bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Start of an unknown track = %v; want ErrNotFound", err)
	}
}

// TestTrackerLoginOnStart: a fresh client without a saved session logs in
// through its first start: one request gives the session (saved, as a
// login saves it), the manifest, the key and the network list; a first
// client that has no keys pinned fetches them beside it. A wrong password
// fails that request with ErrUnauthorized and saves nothing; a first
// request other than a start logs in first; a tracker that does not take
// credentials at start (400) gets a login of its own.
func TestTrackerLoginOnStart(t *testing.T) {
	h := trackertest.New(t)
	h.CreateUser(t, "fay", trackertest.DefaultPassword)
	dir := t.TempDir()
	wav := filepath.Join(dir, "Login Band - Login Song.wav")
	if err := samples.WriteFile(wav, samples.Spec{Seconds: 1, SampleRate: 8000, Channels: 1}); err != nil {
		t.Fatal(err)
	}
	track := h.Ingest(t, wav, &trackertest.MemSink{})
	startPath := "POST " + strings.Replace(protocol.PathStart, "{id}", track.ID, 1)
	ctx := context.Background()
	open := func(url, name string) (*client.Tracker, *countingTransport, string) {
		pins, err := client.OpenPins(filepath.Join(dir, name+"-pins.json"))
		if err != nil {
			t.Fatal(err)
		}
		ct := &countingTransport{}
		sessionFile := filepath.Join(dir, name+"-session.json")
		tr, err := client.NewTracker(client.TrackerOptions{URL: url, Pins: pins, SessionFile: sessionFile, HTTPClient: &http.Client{Transport: ct}})
		if err != nil {
			t.Fatal(err)
		}
		return tr, ct, sessionFile
	}

	// The very first process: no pins, no session.
	tr, ct, sessionFile := open(h.URL, "first")
	tr.LoginOnStart("fay", trackertest.DefaultPassword)
	if m, k, err := tr.Start(ctx, track.ID); err != nil || m == nil || k == (catalog.TrackKey{}) {
		t.Fatalf("Start with credentials = %v, %v, %v; want manifest and key", m, k, err)
	}
	got := ct.take()
	slices.Sort(got)
	if want := []string{"GET " + protocol.PathKeys, startPath}; !slices.Equal(got, want) {
		t.Errorf("requests of a first start without pins = %v; want %v (the keys beside the start)", got, want)
	}
	if tr.Account() != "fay" {
		t.Errorf("Account after the start = %q; want fay", tr.Account())
	}
	if fi, err := os.Stat(sessionFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved session: %v, %v; want a file of mode 0600", fi, err)
	}
	if _, err := tr.Key(ctx, track.ID); err != nil {
		t.Fatalf("Key with the session from start: %v", err)
	}
	if got := ct.take(); len(got) != 1 {
		t.Errorf("requests for a key after the start = %v; want one, no login", got)
	}
	// The start brought the network list.
	if _, err := tr.Network(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ct.take(); len(got) != 0 {
		t.Errorf("requests for the network list after the start = %v; want none", got)
	}
	resumed, _, _ := open(h.URL, "first")
	if ok, err := resumed.Resume(); !ok || err != nil || resumed.Account() != "fay" {
		t.Fatalf("Resume of the session the start opened = %v, %v (%q)", ok, err, resumed.Account())
	}

	// A later process, keys pinned, the session file gone: one request.
	if err := os.Remove(sessionFile); err != nil {
		t.Fatal(err)
	}
	tr, ct, _ = open(h.URL, "first")
	if ok, _ := tr.Resume(); ok {
		t.Fatal("Resume found a session in a removed file")
	}
	tr.LoginOnStart("fay", trackertest.DefaultPassword)
	if _, _, err := tr.Start(ctx, track.ID); err != nil {
		t.Fatal(err)
	}
	if got := ct.take(); len(got) != 1 || got[0] != startPath {
		t.Errorf("requests of a start without a saved session = %v; want the one start", got)
	}

	// A wrong password: one request, ErrUnauthorized, nothing saved.
	tr, ct, sessionFile = open(h.URL, "wrong")
	tr.LoginOnStart("fay", "not the password")
	if _, _, err := tr.Start(ctx, track.ID); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("Start with a wrong password = %v; want ErrUnauthorized", err)
	}
	if _, err := os.Stat(sessionFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("session file after a failed login: %v; want none", err)
	}
	if got := ct.take(); !slices.Contains(got, startPath) || slices.Contains(got, "POST "+protocol.PathLogin) {
		t.Errorf("requests of a start with a wrong password = %v; want the start, no separate login", got)
	}
	// The refused password is not tried again.
	if _, err := tr.Network(ctx); !errors.Is(err, client.ErrNotLoggedIn) {
		t.Errorf("Network after a refused password = %v; want ErrNotLoggedIn", err)
	}
	if got := ct.take(); len(got) != 0 {
		t.Errorf("requests after a refused password = %v; want none", got)
	}

	// Another first request logs in first.
	tr, ct, _ = open(h.URL, "first")
	tr.LoginOnStart("fay", trackertest.DefaultPassword)
	if _, err := tr.Network(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ct.take(); len(got) != 2 || got[0] != "POST "+protocol.PathLogin {
		t.Errorf("requests of Network with credentials kept = %v; want login, then the network list", got)
	}

	// A tracker whose start takes neither credentials nor the network
	// flag (it answers 400 for the unknown fields, as decodeJSON does).
	older := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/start") {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"username"`)) || bytes.Contains(body, []byte(`"network"`)) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":"bad JSON body: json: unknown field","code":"bad_request"}`))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.Server.ServeHTTP(w, r)
	}))
	defer older.Close()
	tr, ct, _ = open(older.URL, "older")
	tr.LoginOnStart("fay", trackertest.DefaultPassword)
	if m, _, err := tr.Start(ctx, track.ID); err != nil || m == nil {
		t.Fatalf("Start on a tracker without credentials at start = %v, %v", m, err)
	}
	if got := ct.take(); !slices.Contains(got, "POST "+protocol.PathLogin) {
		t.Errorf("requests on the older tracker = %v; want a separate login", got)
	}
	// Later starts go straight to the older form.
	if _, _, err := tr.Start(ctx, track.ID); err != nil {
		t.Fatal(err)
	}
	if got := ct.take(); len(got) != 1 || got[0] != startPath {
		t.Errorf("requests of a second start on the older tracker = %v; want the one start", got)
	}
}

// TestTrackerSavesNetwork: the network list a start brings is kept in
// NetworkFile, where a later process finds it without a request; a file
// of another tracker is no list, a damaged one an error.
func TestTrackerSavesNetwork(t *testing.T) {
	h := trackertest.New(t, func(o *tracker.Options) { o.Origins = []string{"https://origin.example:4433"} })
	h.CreateUser(t, "gus", trackertest.DefaultPassword)
	dir := t.TempDir()
	wav := filepath.Join(dir, "Net Band - Net Song.wav")
	if err := samples.WriteFile(wav, samples.Spec{Seconds: 1, SampleRate: 8000, Channels: 1}); err != nil {
		t.Fatal(err)
	}
	track := h.Ingest(t, wav, &trackertest.MemSink{})
	netFile := filepath.Join(dir, "network.json")
	open := func(url string) *client.Tracker {
		tr, err := client.NewTracker(client.TrackerOptions{URL: url, NetworkFile: netFile})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	first := open(h.URL)
	if _, ok, err := first.SavedNetwork(); ok || err != nil {
		t.Fatalf("SavedNetwork before any = %v, %v; want none", ok, err)
	}
	first.LoginOnStart("gus", trackertest.DefaultPassword)
	if _, _, err := first.Start(context.Background(), track.ID); err != nil {
		t.Fatal(err)
	}
	ni, ok, err := open(h.URL).SavedNetwork()
	if !ok || err != nil || !slices.Equal(ni.Origins, []string{"https://origin.example:4433"}) {
		t.Fatalf("SavedNetwork after a start = %+v, %v, %v; want the tracker's origins", ni, ok, err)
	}
	if _, ok, err := open("http://127.0.0.1:1").SavedNetwork(); ok || err != nil {
		t.Errorf("SavedNetwork for another tracker = %v, %v; want none", ok, err)
	}
	if err := os.WriteFile(netFile, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := open(h.URL).SavedNetwork(); ok || err == nil {
		t.Errorf("SavedNetwork of a damaged file = %v, %v; want an error", ok, err)
	}
}
