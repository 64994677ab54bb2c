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
// is valid, of the refresh token in the body, renewed on the way (the
// answer then carries the new session). Renewal costs no password hash: a
// restarted client with a saved session starts without argon2id.
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
	hash, renewed, err := s.startSession(ctx, r, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.store.Track(ctx, id)
	if err != nil {
		s.writeError(w, r, trackLookupError(err))
		return
	}
	remote := s.remoteLabel(r)
	g, err := s.grantKey(ctx, hash, id, remote)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.keysServed.Inc()
	s.log.InfoContext(ctx, "track key served", slog.String("account", g.Account),
		slog.String("track", id), slog.String("remote", remote), slog.Bool("renewed", renewed != nil))
	writeJSON(w, http.StatusOK, protocol.StartResponse{
		Manifest: protocol.SignedManifest{TrackID: t.ID, Manifest: t.Manifest, KeyID: t.KeyID, Signature: t.Signature},
		Key:      protocol.TrackKeyResponse{TrackID: id, Key: g.Key},
		Session:  renewed,
	})
}

// startSession finds the request's session, by the hash of its access
// token: a valid access token's, or that of the session renewed from the
// refresh token in req (returned).
func (s *Server) startSession(ctx context.Context, r *http.Request, req protocol.StartRequest) ([]byte, *protocol.Session, error) {
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
		return nil, nil, unauthorized("missing or expired access token, and no refresh token")
	}
	wire, err := s.renew(ctx, req.RefreshToken)
	if err != nil {
		return nil, nil, err
	}
	return tokenHash(wire.AccessToken), &wire, nil
}
