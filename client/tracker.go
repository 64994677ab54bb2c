package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/atomicfile"
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

	sessionFile string // where the session is kept; "" for none
	networkFile string // where the network list is kept; "" for none

	renewMu sync.Mutex // serialises renewals and logins: a refresh token is good for one

	mu       sync.Mutex // guards the fields below
	session  *protocol.Session
	pending  *protocol.LoginRequest // credentials for the first request (LoginOnStart), until it logs in
	network  *protocol.NetworkInfo  // fetched once (Network)
	noStart  bool                   // the tracker lacks PathStart (an older one)
	oldStart bool                   // the tracker's PathStart takes no credentials or network flag (400)
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
	// SessionFile keeps the session (its refresh token) across restarts:
	// Login, renewals and Start write it (mode 0600, atomically), Logout
	// removes it, Resume reads it, so a restarted client renews instead of
	// logging in again. "" keeps the session in memory only.
	SessionFile string
	// NetworkFile keeps the last network list across restarts, written
	// (atomically) whenever one arrives, from Network or with a start;
	// SavedNetwork reads it, so a restarted process can open its origins'
	// connections before its first request is answered. "" keeps none.
	NetworkFile string
}

// savedNetwork is the NetworkFile's content.
type savedNetwork struct {
	Tracker string               `json:"tracker"` // the tracker's URL: the list of that tracker only
	Network protocol.NetworkInfo `json:"network"`
}

// savedSession is the SessionFile's content.
type savedSession struct {
	Tracker string           `json:"tracker"` // the tracker's URL: a session is good at its own tracker only
	Session protocol.Session `json:"session"`
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
	return &Tracker{base: u, http: hc, clock: clock.Or(opts.Clock), pins: pins, sessionFile: opts.SessionFile, networkFile: opts.NetworkFile}, nil
}

// SavedNetwork returns the network list an earlier process kept in
// TrackerOptions.NetworkFile for this tracker, without a request: a hint
// (the origins may have changed since), for opening connections early.
// It reports false when there is none.
func (t *Tracker) SavedNetwork() (protocol.NetworkInfo, bool, error) {
	if t.networkFile == "" {
		return protocol.NetworkInfo{}, false, nil
	}
	data, err := os.ReadFile(t.networkFile)
	if errors.Is(err, fs.ErrNotExist) {
		return protocol.NetworkInfo{}, false, nil
	} else if err != nil {
		return protocol.NetworkInfo{}, false, fmt.Errorf("client: read the saved network list: %w", err)
	}
	var saved savedNetwork
	if err := json.Unmarshal(data, &saved); err != nil {
		return protocol.NetworkInfo{}, false, fmt.Errorf("client: %s is not a saved network list (%v); remove it", t.networkFile, err)
	}
	if saved.Tracker != t.base.String() {
		return protocol.NetworkInfo{}, false, nil
	}
	return saved.Network, true, nil
}

// setNetwork keeps ni as the network list and saves it (see NetworkFile).
func (t *Tracker) setNetwork(ni protocol.NetworkInfo) error {
	t.mu.Lock()
	t.network = &ni
	t.mu.Unlock()
	if t.networkFile == "" {
		return nil
	}
	data, err := json.Marshal(savedNetwork{Tracker: t.base.String(), Network: ni})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(t.networkFile, data, atomicfile.Options{Perm: 0o600}); err != nil {
		return fmt.Errorf("client: save the network list: %w", err)
	}
	return nil
}

// Resume takes up the session saved in TrackerOptions.SessionFile, without
// a round trip: the first request renews it if its access token expired
// (Start renews it in the same round trip). It reports false when there is
// no usable saved session (no file, another tracker's, or its refresh
// token expired): then Login.
func (t *Tracker) Resume() (bool, error) {
	if t.sessionFile == "" {
		return false, nil
	}
	data, err := os.ReadFile(t.sessionFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("client: read session: %w", err)
	}
	var saved savedSession
	if err := json.Unmarshal(data, &saved); err != nil {
		return false, fmt.Errorf("client: session file %s is not a saved session (%v); remove it to log in afresh", t.sessionFile, err)
	}
	if saved.Tracker != t.base.String() || saved.Session.RefreshToken == "" || !t.clock.Now().Before(saved.Session.RefreshExpiresAt) {
		return false, nil
	}
	t.mu.Lock()
	t.session = &saved.Session
	t.mu.Unlock()
	return true, nil
}

// Adopt makes s the session and saves it (see SessionFile), for a caller
// taking over a session it kept in a form of its own (an older file): the
// first request renews it if its access token expired.
func (t *Tracker) Adopt(s protocol.Session) error {
	if s.RefreshToken == "" {
		return fmt.Errorf("client: adopt a session: no refresh token")
	}
	return t.setSession(&s)
}

// setLogin makes s, which a login opened, the session: the credentials
// LoginOnStart kept are done with.
func (t *Tracker) setLogin(s *protocol.Session) error {
	t.mu.Lock()
	t.pending = nil
	t.mu.Unlock()
	return t.setSession(s)
}

// setSession makes s the session and saves it (see SessionFile).
func (t *Tracker) setSession(s *protocol.Session) error {
	t.mu.Lock()
	t.session = s
	t.mu.Unlock()
	if t.sessionFile == "" {
		return nil
	}
	if s == nil {
		if err := os.Remove(t.sessionFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("client: remove session: %w", err)
		}
		return nil
	}
	data, err := json.Marshal(savedSession{Tracker: t.base.String(), Session: *s})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(t.sessionFile, data, atomicfile.Options{Perm: 0o600}); err != nil {
		return fmt.Errorf("client: save session: %w", err)
	}
	return nil
}

// Login opens a session and, on first use, pins the tracker's keys.
func (t *Tracker) Login(ctx context.Context, username, password string) error {
	var s protocol.Session
	if err := t.do(ctx, http.MethodPost, protocol.PathLogin, protocol.LoginRequest{Username: username, Password: password}, &s, false); err != nil {
		return fmt.Errorf("login as %q: %w", username, err)
	}
	if err := t.setLogin(&s); err != nil {
		return err
	}
	if _, err := t.TrustedKeys(ctx); err != nil {
		return err
	}
	return nil
}

// LoginOnStart keeps a username and password, in memory only, for the
// first request that needs a session, and logs in then: a Start carries
// them (protocol.StartRequest), so a client without a saved session pays
// one round trip and one argon2id for the login, the manifest and the key
// together, and takes the session from the answer (saved as Login saves
// it); any other request logs in first, as Login would. A wrong password
// surfaces from that first request as ErrUnauthorized, and is then
// forgotten (later requests report ErrNotLoggedIn). It replaces any
// session held.
func (t *Tracker) LoginOnStart(username, password string) {
	t.mu.Lock()
	t.session, t.pending = nil, &protocol.LoginRequest{Username: username, Password: password}
	t.mu.Unlock()
}

// loginPending logs in with the credentials LoginOnStart kept, if there
// are any and no session yet (one login for concurrent callers).
func (t *Tracker) loginPending(ctx context.Context) error {
	t.renewMu.Lock()
	defer t.renewMu.Unlock()
	t.mu.Lock()
	s, p := t.session, t.pending
	t.mu.Unlock()
	if s != nil || p == nil {
		return nil
	}
	err := t.Login(ctx, p.Username, p.Password)
	t.dropRefused(err)
	return err
}

// dropRefused forgets the credentials LoginOnStart kept once the tracker
// refused them (401): trying them again would only count more failures
// against the throttles. Later requests report ErrNotLoggedIn.
func (t *Tracker) dropRefused(err error) {
	if errors.Is(err, ErrUnauthorized) {
		t.mu.Lock()
		t.pending = nil
		t.mu.Unlock()
	}
}

// Logout ends the session.
func (t *Tracker) Logout(ctx context.Context) error {
	t.mu.Lock()
	t.pending = nil // no login just to log out
	t.mu.Unlock()
	err := t.do(ctx, http.MethodPost, protocol.PathLogout, nil, nil, true)
	return errors.Join(err, t.setSession(nil))
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
	if err := t.loginPending(ctx); err != nil {
		return "", err
	}
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
	if err := t.setSession(&ns); err != nil {
		return "", err
	}
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
	return t.verifyManifest(ctx, trackID, sm)
}

// Start fetches what a play needs from the tracker, the verified manifest
// and the key, in one round trip (protocol.PathStart). With a saved
// session whose access token expired, the refresh token goes along and the
// renewal happens in the same round trip; with no session but the
// credentials of LoginOnStart, they go along and the login happens in the
// same round trip. The first start also brings the network list (see
// Network). An older tracker without the route gets the manifest and key
// asked for at once, side by side (after a login of their own); one whose
// start takes neither credentials nor the network flag (400) gets a login
// of its own, then the start.
func (t *Tracker) Start(ctx context.Context, trackID string) (*catalog.Manifest, catalog.TrackKey, error) {
	t.mu.Lock()
	s, pending, noStart, oldStart := t.session, t.pending, t.noStart, t.oldStart
	t.mu.Unlock()
	if s == nil && pending == nil {
		return nil, catalog.TrackKey{}, ErrNotLoggedIn
	}
	if !noStart {
		m, k, err := t.start(ctx, trackID)
		if errors.Is(err, ErrBadRequest) && !oldStart {
			t.mu.Lock()
			t.oldStart = true
			t.mu.Unlock()
			m, k, err = t.start(ctx, trackID)
		}
		if !errors.Is(err, ErrNotFound) {
			return m, k, err
		}
		// Either no such track, or a tracker without the route: the
		// separate requests tell which.
	}
	var (
		wg   sync.WaitGroup
		m    *catalog.Manifest
		merr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		m, merr = t.Manifest(ctx, trackID)
	}()
	k, kerr := t.Key(ctx, trackID)
	wg.Wait()
	if err := errors.Join(merr, kerr); err != nil {
		return nil, k, err
	}
	if !noStart {
		t.mu.Lock()
		t.noStart = true // the track exists: the tracker lacks the route
		t.mu.Unlock()
	}
	return m, k, nil
}

// start sends one start request with the session's access token, its
// refresh token if the access token is spent (renewing it), or the
// credentials LoginOnStart kept if there is no session (logging in).
// Renewals and logins hold renewMu, so concurrent callers wait and find
// the new session. It asks for the network list while none is known, and
// on first use fetches the tracker's keys beside it, as Login pins them.
func (t *Tracker) start(ctx context.Context, trackID string) (*catalog.Manifest, catalog.TrackKey, error) {
	t.mu.Lock()
	oldStart := t.oldStart
	t.mu.Unlock()
	if oldStart {
		if err := t.loginPending(ctx); err != nil {
			return nil, catalog.TrackKey{}, err
		}
	}
	t.mu.Lock()
	s := t.session
	t.mu.Unlock()
	locked := false
	if s == nil || !t.clock.Now().Add(renewMargin).Before(s.AccessExpiresAt) {
		t.renewMu.Lock()
		locked = true
	}
	t.mu.Lock()
	s, p := t.session, t.pending
	wantNetwork := t.network == nil && !oldStart
	t.mu.Unlock()
	req := protocol.StartRequest{Network: wantNetwork}
	tok := ""
	login := false
	switch {
	case s == nil && p == nil:
		if locked {
			t.renewMu.Unlock()
		}
		return nil, catalog.TrackKey{}, ErrNotLoggedIn
	case s == nil:
		login = true
		req.Username, req.Password = p.Username, p.Password
	case t.clock.Now().Add(renewMargin).Before(s.AccessExpiresAt):
		tok = s.AccessToken // renewed meanwhile, or fresh all along
	default:
		req.RefreshToken = s.RefreshToken
	}
	var keys chan error
	if len(t.pins.Keys()) == 0 {
		keys = make(chan error, 1)
		go func() {
			_, err := t.refreshKeys(ctx)
			keys <- err
		}()
	}
	var sr protocol.StartResponse
	err := t.doToken(ctx, http.MethodPost, trackPath(protocol.PathStart, trackID), req, &sr, tok)
	switch {
	case err != nil:
	case login && sr.Session == nil:
		err = errors.New("the answer carries no session")
	case login:
		err = t.setLogin(sr.Session)
	case sr.Session != nil:
		err = t.setSession(sr.Session)
	}
	if login {
		t.dropRefused(err)
	}
	if locked {
		t.renewMu.Unlock()
	}
	if err == nil && sr.Network != nil {
		err = t.setNetwork(*sr.Network)
	}
	if keys != nil {
		if kerr := <-keys; err == nil {
			err = kerr
		}
	}
	switch {
	case err != nil && login:
		return nil, catalog.TrackKey{}, fmt.Errorf("login as %q to start %s: %w", p.Username, trackID, err)
	case err != nil:
		return nil, catalog.TrackKey{}, fmt.Errorf("start %s: %w", trackID, err)
	}
	return t.startAnswer(ctx, trackID, sr)
}

// startAnswer verifies a start's manifest and parses its key.
func (t *Tracker) startAnswer(ctx context.Context, trackID string, sr protocol.StartResponse) (*catalog.Manifest, catalog.TrackKey, error) {
	m, err := t.verifyManifest(ctx, trackID, sr.Manifest)
	if err != nil {
		return nil, catalog.TrackKey{}, err
	}
	k, err := catalog.ParseTrackKey(sr.Key.Key)
	return m, k, err
}

// verifyManifest checks sm against the pinned keys and the track ID.
func (t *Tracker) verifyManifest(ctx context.Context, trackID string, sm protocol.SignedManifest) (*catalog.Manifest, error) {
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
//
// The list is fetched once per Tracker: origins and bootstrap peers change
// rarely, and a start should not pay a round trip for them twice.
func (t *Tracker) Network(ctx context.Context) (protocol.NetworkInfo, error) {
	t.mu.Lock()
	n := t.network
	t.mu.Unlock()
	if n != nil {
		return *n, nil
	}
	ni, err := t.fetchNetwork(ctx)
	if err != nil {
		return ni, err
	}
	return ni, t.setNetwork(ni)
}

func (t *Tracker) fetchNetwork(ctx context.Context) (protocol.NetworkInfo, error) {
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
	tok := ""
	if auth {
		var err error
		if tok, err = t.accessToken(ctx); err != nil {
			return err
		}
	}
	return t.doToken(ctx, method, path, in, out, tok)
}

// doToken is do with the access token given ("" for none).
func (t *Tracker) doToken(ctx context.Context, method, path string, in, out any, tok string) error {
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
	if tok != "" {
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
		case http.StatusBadRequest:
			sentinel = ErrBadRequest
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
