package tracker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/store"
)

// Account name and password rules.
const (
	MinPasswordLen = 8
)

// checkAccountName accepts 1..protocol.MaxUsernameLen characters from
// [A-Za-z0-9._-], starting with a letter or digit.
func checkAccountName(name string) error {
	if name == "" || len(name) > protocol.MaxUsernameLen {
		return fmt.Errorf("%w: length %d not in 1..%d", ErrAccountName, len(name), protocol.MaxUsernameLen)
	}
	for i, c := range []byte(name) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return fmt.Errorf("%w: %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", ErrAccountName, name)
		}
	}
	return nil
}

func checkPasswordRules(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen || len(pw) > protocol.MaxPasswordLen {
		return fmt.Errorf("%w: want %d characters to %d bytes", ErrPassword, MinPasswordLen, protocol.MaxPasswordLen)
	}
	return nil
}

// CreateAccount adds an account with an argon2id hash of password. It
// returns an error wrapping ErrAccountName, ErrPassword or store.ErrExists
// for a bad name, a bad password or a taken name.
func (s *Server) CreateAccount(ctx context.Context, name, password string) error {
	if err := checkAccountName(name); err != nil {
		return err
	}
	if err := checkPasswordRules(password); err != nil {
		return err
	}
	h, err := hashPassword(password, s.opts.Argon2)
	if err != nil {
		return err
	}
	if err := s.store.CreateAccount(ctx, store.Account{Name: name, PasswordHash: h, CreatedAt: s.clock.Now()}); err != nil {
		return fmt.Errorf("tracker: create account %q: %w", name, err)
	}
	s.log.InfoContext(ctx, "account created", slog.String("account", name))
	return nil
}

// tokenBytes is the entropy of access and refresh tokens.
const tokenBytes = 32

var tokenEncoding = base64.RawURLEncoding

// newToken returns a random token and the hash the store keeps.
func newToken() (string, []byte, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("tracker: token: %w", err)
	}
	tok := tokenEncoding.EncodeToString(b)
	return tok, tokenHash(tok), nil
}

func tokenHash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// wellFormedToken reports whether tok could be one of our tokens; anything
// else is refused without a store lookup.
func wellFormedToken(tok string) bool {
	if len(tok) != tokenEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := tokenEncoding.DecodeString(tok)
	return err == nil
}

// newSession makes a fresh token pair for account.
func (s *Server) newSession(account string) (protocol.Session, store.Session, error) {
	access, accessHash, err := newToken()
	if err != nil {
		return protocol.Session{}, store.Session{}, err
	}
	refresh, refreshHash, err := newToken()
	if err != nil {
		return protocol.Session{}, store.Session{}, err
	}
	now := s.clock.Now()
	st := store.Session{
		Account: account, AccessHash: accessHash, AccessExpiresAt: now.Add(s.opts.AccessTTL),
		RefreshHash: refreshHash, RefreshExpiresAt: now.Add(s.opts.RefreshTTL), CreatedAt: now,
	}
	wire := protocol.Session{
		Account: account, AccessToken: access, AccessExpiresAt: st.AccessExpiresAt,
		RefreshToken: refresh, RefreshExpiresAt: st.RefreshExpiresAt,
	}
	return wire, st, nil
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[protocol.LoginRequest](r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	wire, err := s.login(r.Context(), r, req.Username, req.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire)
}

// login checks a name and password under the login throttles (see
// LoginPolicy) and opens a session: the one way to a session from a
// password, whether through PathLogin or PathStart.
func (s *Server) login(ctx context.Context, r *http.Request, username, password string) (protocol.Session, error) {
	if err := s.checkLogin(ctx, r, username, password); err != nil {
		return protocol.Session{}, err
	}
	wire, st, err := s.newSession(username)
	if err == nil {
		err = s.store.CreateSession(ctx, st)
	}
	if err != nil {
		return protocol.Session{}, err
	}
	client, _ := s.clientAddr(r)
	s.log.InfoContext(ctx, "login", slog.String("account", username), slog.String("client", client.String()))
	return wire, nil
}

// checkLogin checks a name and password under the login throttles: nil for
// the right password, else a bad request, a 429 (throttled, with its
// Retry-After) or a 401. It charges the throttles before the password
// check (so parallel guesses cannot all slip through) and refunds on
// success.
func (s *Server) checkLogin(ctx context.Context, r *http.Request, username, password string) error {
	if username == "" || password == "" || len(username) > protocol.MaxUsernameLen || len(password) > protocol.MaxPasswordLen {
		return badRequest("username and password must be 1..%d and 1..%d bytes", protocol.MaxUsernameLen, protocol.MaxPasswordLen)
	}
	client, _ := s.clientAddr(r)
	network := networkOf(client, client.IsValid())
	now := s.clock.Now()
	refuse := func(wait time.Duration, why string) error {
		s.metrics.loginFailures.WithLabelValues("rate_limited").Inc()
		s.log.WarnContext(ctx, "login throttled", slog.String("account", username), slog.String("network", network), slog.String("by", why))
		return &apiError{status: http.StatusTooManyRequests, code: protocol.CodeRateLimited,
			msg: "too many failed logins; retry later", retryIn: max(1, int(math.Ceil(wait.Seconds())))}
	}
	if wait, ok := s.attempts.allow(now, network); !ok {
		return refuse(wait, "attempt rate")
	}
	charges, err := s.loginCharges(ctx, now, username, network)
	if err != nil {
		return err
	}
	retryAt, allowed, err := s.store.ChargeThrottle(ctx, now, charges)
	if err != nil {
		return err
	}
	if !allowed {
		return refuse(retryAt.Sub(now), "failures")
	}
	ok, err := s.verifyLogin(ctx, username, password)
	if err != nil {
		if rerr := s.store.RefundThrottle(ctx, now, charges); rerr != nil {
			s.log.WarnContext(ctx, "refund login throttle", slog.Any("err", rerr))
		}
		return err
	}
	if !ok {
		s.metrics.loginFailures.WithLabelValues("bad_credentials").Inc()
		s.log.InfoContext(ctx, "login failed", slog.String("account", username), slog.String("network", network))
		return unauthorized("invalid username or password")
	}
	if err := s.store.RefundThrottle(ctx, now, successRefund(charges)); err != nil {
		s.log.WarnContext(ctx, "refund login throttle", slog.Any("err", err))
	}
	return nil
}

// verifyLogin checks a name and password. An unknown account costs the same
// argon2 work as a known one.
func (s *Server) verifyLogin(ctx context.Context, name, password string) (bool, error) {
	start := s.clock.Now()
	defer func() { s.metrics.passwordCheck.Observe(s.clock.Now().Sub(start).Seconds()) }()
	acct, err := s.store.Account(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		checkPassword(s.dummyHash, password) //nolint:errcheck // timing only
		return false, nil
	case err != nil:
		return false, err
	}
	ok, err := checkPassword(acct.PasswordHash, password)
	if err != nil {
		s.log.ErrorContext(ctx, "stored password hash unusable", slog.String("account", name), slog.Any("err", err))
		return false, nil
	}
	return ok, nil
}

func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) {
	req, err := decodeJSON[protocol.RenewRequest](r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.RefreshToken == "" {
		s.writeError(w, r, badRequest("refresh_token is required"))
		return
	}
	wire, err := s.renew(r.Context(), req.RefreshToken)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire)
}

// refreshAccount checks refresh token tok without rotating it: its
// session's account, or the unauthorized error renew would give.
func (s *Server) refreshAccount(ctx context.Context, tok string) (string, error) {
	if !wellFormedToken(tok) {
		return "", unauthorized("invalid refresh token")
	}
	cur, err := s.store.SessionByRefresh(ctx, tokenHash(tok))
	if errors.Is(err, store.ErrNotFound) {
		return "", unauthorized("invalid refresh token")
	} else if err != nil {
		return "", err
	}
	if !s.clock.Now().Before(cur.RefreshExpiresAt) {
		return "", unauthorized("refresh token expired")
	}
	return cur.Account, nil
}

// renew rotates the session of refresh token tok: the new session, or an
// unauthorized error for a token that is malformed, unknown, expired or
// already renewed (a concurrent renewal won: a token renews once, whichever
// tracker sees it first).
func (s *Server) renew(ctx context.Context, tok string) (protocol.Session, error) {
	if !wellFormedToken(tok) {
		return protocol.Session{}, unauthorized("invalid refresh token")
	}
	old := tokenHash(tok)
	cur, err := s.store.SessionByRefresh(ctx, old)
	if errors.Is(err, store.ErrNotFound) {
		return protocol.Session{}, unauthorized("invalid refresh token")
	} else if err != nil {
		return protocol.Session{}, err
	}
	if !s.clock.Now().Before(cur.RefreshExpiresAt) {
		return protocol.Session{}, unauthorized("refresh token expired")
	}
	wire, next, err := s.newSession(cur.Account)
	if err != nil {
		return protocol.Session{}, err
	}
	if err := s.store.RotateSession(ctx, old, next); errors.Is(err, store.ErrNotFound) {
		return protocol.Session{}, unauthorized("invalid refresh token")
	} else if err != nil {
		return protocol.Session{}, err
	}
	return wire, nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	if err := s.store.DeleteSession(r.Context(), sess.accessHash); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "logout", slog.String("account", sess.account))
	w.WriteHeader(http.StatusNoContent)
}

type sessionKey struct{}

// authSession is what requireSession puts in the request context.
type authSession struct {
	account    string
	accessHash []byte
}

func sessionFrom(ctx context.Context) authSession {
	a, _ := ctx.Value(sessionKey{}).(authSession)
	return a
}

// bearerToken extracts the token from "Authorization: Bearer <token>".
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// requireSession answers 401 unless the request carries a valid, unexpired
// access token.
func (s *Server) requireSession(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hash, ok := s.accessHash(w, r)
		if !ok {
			return
		}
		sess, err := s.store.SessionByAccess(r.Context(), hash)
		a, ok := s.checkSession(w, r, hash, sess, err)
		if !ok {
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, a)))
	}
}

// accessHash returns the hash of the request's access token, or answers
// 401 for a missing or malformed one (refused without a store lookup).
func (s *Server) accessHash(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	tok, ok := bearerToken(r)
	if !ok || !wellFormedToken(tok) {
		s.writeError(w, r, unauthorized("missing or malformed access token"))
		return nil, false
	}
	return tokenHash(tok), true
}

// checkSession judges the store's answer (sess, err) to a lookup of access
// token hash: the session, or a 401 (unknown or expired token) or the
// store's error already answered.
func (s *Server) checkSession(w http.ResponseWriter, r *http.Request, hash []byte, sess store.Session, err error) (authSession, bool) {
	if errors.Is(err, store.ErrNotFound) {
		s.writeError(w, r, unauthorized("invalid access token"))
		return authSession{}, false
	} else if err != nil {
		s.writeError(w, r, err)
		return authSession{}, false
	}
	if !s.clock.Now().Before(sess.AccessExpiresAt) {
		s.writeError(w, r, unauthorized("access token expired"))
		return authSession{}, false
	}
	return authSession{account: sess.Account, accessHash: hash}, true
}
