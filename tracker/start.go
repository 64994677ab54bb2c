package tracker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/store"
)

// handleStart answers protocol.PathStart: what a play needs from the
// tracker in one round trip, the track's signed manifest and its key, for
// the session of the access token or, when the request carries none that
// is valid, of the credential in the body: a refresh token, renewed on the
// way, or a username and password, logged in on the way under the same
// throttles as PathLogin (the answer then carries the new session).
// Renewal costs no password hash: a restarted client with a saved session
// starts without argon2id; a client without one pays a single argon2id and
// a single round trip for the login, the manifest and the key. Asked to,
// it carries the network list too.
//
// The track is looked up before any session is opened or rotated, and an
// unknown track is reported only to a caller whose credential holds, with
// no new session: a 404 cannot carry one, and a renewal it lost would
// leave the client with a spent refresh token.
func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	id, err := trackID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := decodeJSON[protocol.StartRequest](r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	t, lookupErr := s.store.Track(ctx, id)
	if lookupErr != nil && !errors.Is(lookupErr, store.ErrNotFound) {
		s.writeError(w, r, lookupErr)
		return
	}
	hash, opened, err := s.startSession(ctx, r, req, lookupErr == nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if lookupErr != nil {
		s.writeError(w, r, trackLookupError(lookupErr))
		return
	}
	var network *protocol.NetworkInfo
	if req.Network {
		info, err := s.networkInfo(ctx)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		network = &info
	}
	g, err := s.grantKey(ctx, r, hash, id, slog.Bool("new_session", opened != nil), slog.Bool("login", req.Username != ""))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.StartResponse{
		Manifest: protocol.SignedManifest{TrackID: t.ID, Manifest: t.Manifest, KeyID: t.KeyID, Signature: t.Signature},
		Key:      protocol.TrackKeyResponse{TrackID: id, Key: g.Key},
		Session:  opened,
		Network:  network,
	})
}

// startSession finds the request's session, by the hash of its access
// token: by logging in with the username and password in req, from a
// valid access token, or by renewing the session of the refresh token in
// req. The session a login opens or a renewal rotates to is returned. With
// issue false (the track is unknown) the credential is checked, and the
// throttles charged, as for a real start, but no session is opened or
// rotated (and no hash returned).
func (s *Server) startSession(ctx context.Context, r *http.Request, req protocol.StartRequest, issue bool) ([]byte, *protocol.Session, error) {
	if req.Username != "" || req.Password != "" {
		if req.RefreshToken != "" {
			return nil, nil, badRequest("a start carries a refresh token or a username and password, not both")
		}
		if !issue {
			return nil, nil, s.checkLogin(ctx, r, req.Username, req.Password)
		}
		wire, err := s.login(ctx, r, req.Username, req.Password)
		if err != nil {
			return nil, nil, err
		}
		return tokenHash(wire.AccessToken), &wire, nil
	}
	if tok, ok := bearerToken(r); ok && wellFormedToken(tok) {
		hash := tokenHash(tok)
		sess, err := s.store.SessionByAccess(ctx, hash)
		switch {
		case err == nil && s.clock.Now().Before(sess.AccessExpiresAt):
			return hash, nil, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, nil, err
		}
	}
	if req.RefreshToken == "" {
		return nil, nil, unauthorized("missing or expired access token, and no refresh token or password")
	}
	if !issue {
		_, err := s.refreshAccount(ctx, req.RefreshToken)
		return nil, nil, err
	}
	wire, err := s.renew(ctx, req.RefreshToken)
	if err != nil {
		return nil, nil, err
	}
	return tokenHash(wire.AccessToken), &wire, nil
}
