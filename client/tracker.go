package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
)

// maxResponse bounds any tracker answer the client reads.
const maxResponse = catalog.MaxManifestSize * 2

// renewMargin is how long before its expiry an access token is renewed.
const renewMargin = 30 * time.Second

// Tracker is an HTTP client for the tracker API. It keeps the session,
// renews the access token before it expires, and verifies everything the
// tracker signs against the pinned keys.
type Tracker struct {
	base  *url.URL
	http  *http.Client
	clock clock.Clock
	pins  *PinStore

	renewMu sync.Mutex // serialises renewals: a refresh token is good for one

	mu      sync.Mutex // guards the fields below
	session *protocol.Session
}

// TrackerOptions configure a Tracker.
type TrackerOptions struct {
	// URL is the tracker's base URL, e.g. http://127.0.0.1:8080. Required.
	URL string
	// HTTPClient talks to the tracker; nil means http.DefaultClient's
	// transport with a 30 s timeout.
	HTTPClient *http.Client
	// Clock decides when to renew; nil means the wall clock.
	Clock clock.Clock
	// Pins stores the pinned tracker keys; nil means an in-memory store
	// (trust on first use for this process only).
	Pins *PinStore
}

// NewTracker returns a client for the tracker at opts.URL.
func NewTracker(opts TrackerOptions) (*Tracker, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: tracker URL %q must be http(s)://host[:port]", opts.URL)
	}
	hc := opts.HTTPClient
	if hc == nil {
		// A transport of its own, so Close can release its connections.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		hc = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	pins := opts.Pins
	if pins == nil {
		pins = NewMemoryPins()
	}
	return &Tracker{base: u, http: hc, clock: clock.Or(opts.Clock), pins: pins}, nil
}

// Login opens a session and, on first use, pins the tracker's keys.
func (t *Tracker) Login(ctx context.Context, username, password string) error {
	var s protocol.Session
	if err := t.do(ctx, http.MethodPost, protocol.PathLogin, protocol.LoginRequest{Username: username, Password: password}, &s, false); err != nil {
		return fmt.Errorf("login as %q: %w", username, err)
	}
	t.mu.Lock()
	t.session = &s
	t.mu.Unlock()
	if _, err := t.TrustedKeys(ctx); err != nil {
		return err
	}
	return nil
}

// Logout ends the session.
func (t *Tracker) Logout(ctx context.Context) error {
	err := t.do(ctx, http.MethodPost, protocol.PathLogout, nil, nil, true)
	t.mu.Lock()
	t.session = nil
	t.mu.Unlock()
	return err
}

// Close releases the client's idle connections to the tracker.
func (t *Tracker) Close() {
	t.http.CloseIdleConnections()
}

// Account returns the logged-in account name, or "".
func (t *Tracker) Account() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.session == nil {
		return ""
	}
	return t.session.Account
}

// accessToken returns a valid access token, renewing the session first if
// the token is about to expire.
func (t *Tracker) accessToken(ctx context.Context) (string, error) {
	t.mu.Lock()
	s := t.session
	t.mu.Unlock()
	if s == nil {
		return "", ErrNotLoggedIn
	}
	if t.clock.Now().Add(renewMargin).Before(s.AccessExpiresAt) {
		return s.AccessToken, nil
	}
	// One renewal at a time; whoever waited finds the renewed session.
	t.renewMu.Lock()
	defer t.renewMu.Unlock()
	t.mu.Lock()
	s = t.session
	t.mu.Unlock()
	if s == nil {
		return "", ErrNotLoggedIn
	}
	if t.clock.Now().Add(renewMargin).Before(s.AccessExpiresAt) {
		return s.AccessToken, nil
	}
	var ns protocol.Session
	if err := t.do(ctx, http.MethodPost, protocol.PathRenew, protocol.RenewRequest{RefreshToken: s.RefreshToken}, &ns, false); err != nil {
		return "", fmt.Errorf("renew session: %w", err)
	}
	t.mu.Lock()
	t.session = &ns
	t.mu.Unlock()
	return ns.AccessToken, nil
}

// Tracks lists the catalog.
func (t *Tracker) Tracks(ctx context.Context, limit, offset int) (protocol.TrackList, error) {
	var l protocol.TrackList
	q := url.Values{"limit": {strconv.Itoa(limit)}, "offset": {strconv.Itoa(offset)}}
	err := t.do(ctx, http.MethodGet, protocol.PathTracks+"?"+q.Encode(), nil, &l, true)
	return l, err
}

// Search runs a full-text search over title, artist and album.
func (t *Tracker) Search(ctx context.Context, query string, limit int) (protocol.TrackList, error) {
	var l protocol.TrackList
	q := url.Values{"q": {query}, "limit": {strconv.Itoa(limit)}}
	err := t.do(ctx, http.MethodGet, protocol.PathSearch+"?"+q.Encode(), nil, &l, true)
	return l, err
}

// Manifest fetches a track's signed manifest and verifies it against the
// pinned keys and the track ID.
func (t *Tracker) Manifest(ctx context.Context, trackID string) (*catalog.Manifest, error) {
	var sm protocol.SignedManifest
	if err := t.do(ctx, http.MethodGet, trackPath(protocol.PathManifest, trackID), nil, &sm, true); err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", trackID, err)
	}
	keys, err := t.TrustedKeys(ctx)
	if err != nil {
		return nil, err
	}
	m, err := catalog.VerifyManifest(trackID, sm.Manifest, sm.KeyID, sm.Signature, keys)
	if errors.Is(err, catalog.ErrUnknownKey) {
		// The tracker may have rotated since we last looked: refresh once.
		if keys, err = t.refreshKeys(ctx); err != nil {
			return nil, err
		}
		m, err = catalog.VerifyManifest(trackID, sm.Manifest, sm.KeyID, sm.Signature, keys)
	}
	if err != nil {
		return nil, fmt.Errorf("verify manifest of %s: %w", trackID, err)
	}
	return m, nil
}

// Key fetches a track's content key; the tracker gives it only to an
// authenticated session.
func (t *Tracker) Key(ctx context.Context, trackID string) (catalog.TrackKey, error) {
	var kr protocol.TrackKeyResponse
	if err := t.do(ctx, http.MethodGet, trackPath(protocol.PathTrackKey, trackID), nil, &kr, true); err != nil {
		return catalog.TrackKey{}, fmt.Errorf("key of %s: %w", trackID, err)
	}
	return catalog.ParseTrackKey(kr.Key)
}

// Network returns the origins and bootstrap peers.
func (t *Tracker) Network(ctx context.Context) (protocol.NetworkInfo, error) {
	var n protocol.NetworkInfo
	err := t.do(ctx, http.MethodGet, protocol.PathNetwork, nil, &n, true)
	return n, err
}

// Ticket asks for an admission ticket for a libp2p peer ID and verifies it.
func (t *Tracker) Ticket(ctx context.Context, peerID string) (protocol.Ticket, error) {
	var tk protocol.Ticket
	if err := t.do(ctx, http.MethodPost, protocol.PathTicket, protocol.TicketRequest{PeerID: peerID}, &tk, true); err != nil {
		return tk, fmt.Errorf("ticket for %s: %w", peerID, err)
	}
	keys, err := t.TrustedKeys(ctx)
	if err != nil {
		return tk, err
	}
	if err := tk.Verify(keys, peerID, t.clock.Now()); err != nil {
		return tk, fmt.Errorf("ticket from tracker: %w", err)
	}
	return tk, nil
}

// Announce offers a node as a bootstrap peer.
func (t *Tracker) Announce(ctx context.Context, peerID string, addrs []string) error {
	return t.do(ctx, http.MethodPost, protocol.PathAnnounce, protocol.AnnounceRequest{PeerID: peerID, Addrs: addrs}, nil, true)
}

// TrustedKeys returns the pinned signing keys, pinning the tracker's
// current set on first use.
func (t *Tracker) TrustedKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	if keys := t.pins.Keys(); len(keys) > 0 {
		return keys, nil
	}
	return t.refreshKeys(ctx)
}

// PinnedKeys returns the pinned keys without contacting the tracker (for
// checks on hot paths, such as a node verifying a peer's ticket).
func (t *Tracker) PinnedKeys() map[string]ed25519.PublicKey { return t.pins.Keys() }

// refreshKeys fetches the tracker's key set and pins what the pinned keys
// endorse (or everything, on first use).
func (t *Tracker) refreshKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	var ks protocol.SigningKeys
	if err := t.do(ctx, http.MethodGet, protocol.PathKeys, nil, &ks, false); err != nil {
		return nil, fmt.Errorf("tracker keys: %w", err)
	}
	if err := t.pins.Update(ks.Keys); err != nil {
		return nil, err
	}
	return t.pins.Keys(), nil
}

func trackPath(pattern, id string) string {
	return strings.Replace(pattern, "{id}", url.PathEscape(id), 1)
}

// do sends one JSON request and decodes the answer into out (when non-nil).
func (t *Tracker) do(ctx context.Context, method, path string, in, out any, auth bool) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	ref, err := url.Parse(path)
	if err != nil {
		return fmt.Errorf("bad path %q: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base.ResolveReference(ref).String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		tok, err := t.accessToken(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := t.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			err = classifyTransport(err, ErrTrackerUnreachable)
		}
		return fmt.Errorf("tracker %s: %s %s: %w", t.base.Redacted(), method, ref.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, ref.Path, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("%s %s: answer exceeds %d bytes", method, ref.Path, maxResponse)
	}
	if resp.StatusCode >= 300 {
		var e protocol.Error
		_ = json.Unmarshal(data, &e)
		var sentinel error
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			sentinel = ErrUnauthorized
		case http.StatusTooManyRequests:
			sentinel = ErrRateLimited
		case http.StatusNotFound:
			sentinel = ErrNotFound
		default:
			sentinel = errors.New(http.StatusText(resp.StatusCode))
		}
		return fmt.Errorf("%s %s: %w (%d: %s)", method, ref.Path, sentinel, resp.StatusCode, e.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, ref.Path, err)
	}
	return nil
}
