package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
)

// newTracker returns the tracker client of the daemon and of `chorus
// login`: it keeps the session in session.json (client.TrackerOptions.
// SessionFile: 0600, written atomically at login and at every renewal,
// which rotates the refresh token), so a restart, even after kill -9,
// resumes it without the password. reach, when set, hears whether each
// request got an answer from the tracker.
func newTracker(p Paths, trackerURL string, timeout time.Duration, clk clock.Clock, reach func(ok bool)) (*client.Tracker, error) {
	pins, err := client.OpenPins(p.pinsFile())
	if err != nil {
		return nil, err
	}
	var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if reach != nil {
		rt = reachTransport{base: rt, reach: reach}
	}
	return client.NewTracker(client.TrackerOptions{
		URL:         trackerURL,
		HTTPClient:  &http.Client{Timeout: timeout, Transport: rt},
		Clock:       clk,
		Pins:        pins,
		SessionFile: p.sessionFile(),
	})
}

// resumeSession takes up the session saved in session.json (converting a
// file written by an older version first), or says in words why there is
// none to take up.
func resumeSession(p Paths, tr *client.Tracker, trackerURL string) error {
	if err := convertOldSession(p, tr, trackerURL); err != nil {
		return err
	}
	ok, err := tr.Resume()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotLoggedIn, err)
	}
	if ok {
		return nil
	}
	if _, err := os.Stat(p.sessionFile()); errors.Is(err, fs.ErrNotExist) {
		return ErrNotLoggedIn
	}
	return fmt.Errorf("%w: the session in %s has expired or is for another tracker than %s (run chorus login again)", ErrNotLoggedIn, p.sessionFile(), trackerURL)
}

// oldSession is session.json as versions before client.Tracker kept the
// session wrote it.
type oldSession struct {
	Tracker          string          `json:"tracker"`
	Account          string          `json:"account"`
	RefreshToken     string          `json:"refresh_token"`
	RefreshExpiresAt time.Time       `json:"refresh_expires_at"`
	Session          json.RawMessage `json:"session"` // set in the new form only
}

// convertOldSession rewrites a session.json of the old form, for this
// tracker, in the client's form, keeping its refresh token (the first
// request renews it). Any other file it leaves alone for Resume to judge.
func convertOldSession(p Paths, tr *client.Tracker, trackerURL string) error {
	data, err := os.ReadFile(p.sessionFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("daemon: read session: %w", err)
	}
	var old oldSession
	if json.Unmarshal(data, &old) != nil || old.Session != nil || old.RefreshToken == "" || (old.Tracker != "" && old.Tracker != trackerURL) {
		return nil
	}
	if err := tr.Adopt(protocol.Session{Account: old.Account, RefreshToken: old.RefreshToken, RefreshExpiresAt: old.RefreshExpiresAt}); err != nil {
		return fmt.Errorf("daemon: convert the session in %s: %w", p.sessionFile(), err)
	}
	return nil
}

// reachTransport tells whether each tracker request got an answer (a
// status below 500), for the daemon's tracker_reachable.
type reachTransport struct {
	base  http.RoundTripper
	reach func(ok bool)
}

// RoundTrip implements http.RoundTripper.
func (r reachTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	r.reach(err == nil && resp.StatusCode < 500)
	return resp, err
}

// CloseIdleConnections lets client.Tracker.Close release the connections.
func (r reachTransport) CloseIdleConnections() {
	if c, ok := r.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
