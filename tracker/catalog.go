package tracker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/store"
)

// Paging limits for GET /v1/tracks and GET /v1/search.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
	MaxPageOffset    = 1_000_000
	MaxSearchQuery   = 256 // bytes
)

// page parses limit and offset query parameters.
func page(q url.Values) (limit, offset int, err error) {
	limit, offset = DefaultPageLimit, 0
	if v, ok := q["limit"]; ok {
		if len(v) != 1 {
			return 0, 0, badRequest("limit given more than once")
		}
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > MaxPageLimit {
			return 0, 0, badRequest("limit must be an integer in 1..%d", MaxPageLimit)
		}
		limit = n
	}
	if v, ok := q["offset"]; ok {
		if len(v) != 1 {
			return 0, 0, badRequest("offset given more than once")
		}
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 || n > MaxPageOffset {
			return 0, 0, badRequest("offset must be an integer in 0..%d", MaxPageOffset)
		}
		offset = n
	}
	return limit, offset, nil
}

func summaries(ms []store.TrackMeta) []protocol.TrackSummary {
	out := make([]protocol.TrackSummary, 0, len(ms))
	for _, m := range ms {
		out = append(out, summary(m))
	}
	return out
}

func summary(m store.TrackMeta) protocol.TrackSummary {
	return protocol.TrackSummary{ID: m.ID, Title: m.Title, Artist: m.Artist, Album: m.Album,
		DurationMS: m.DurationMS, ByteLength: m.ByteLength, ContentType: m.ContentType, Chunks: m.Chunks}
}

func (s *Server) handleTracks(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, badRequest("bad query string"))
		return
	}
	limit, offset, err := page(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ms, total, err := s.store.ListTracks(r.Context(), limit, offset)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.TrackList{Tracks: summaries(ms), Total: total})
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, badRequest("bad query string"))
		return
	}
	limit, offset, err := page(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	text := q.Get("q")
	if len(q["q"]) > 1 {
		s.writeError(w, r, badRequest("q given more than once"))
		return
	}
	if len(text) > MaxSearchQuery {
		s.writeError(w, r, badRequest("q exceeds %d bytes", MaxSearchQuery))
		return
	}
	ms, total, err := s.store.SearchTracks(r.Context(), text, limit, offset)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.TrackList{Tracks: summaries(ms), Total: total})
}

// trackID validates the {id} path value as a CID in its canonical string
// form.
func trackID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	c, err := cid.Decode(id)
	if err != nil || c.String() != id {
		return "", badRequest("track ID %q is not a CID in canonical form", id)
	}
	return id, nil
}

// trackLookupError turns a store miss on a track into a 404; other errors
// pass through (and answer 500).
func trackLookupError(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no such track")
	}
	return err
}

func (s *Server) handleManifest(w http.ResponseWriter, r *http.Request) {
	id, err := trackID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.store.Track(r.Context(), id)
	if err != nil {
		s.writeError(w, r, trackLookupError(err))
		return
	}
	writeJSON(w, http.StatusOK, protocol.SignedManifest{TrackID: t.ID, Manifest: t.Manifest, KeyID: t.KeyID, Signature: t.Signature})
}

// remoteLabel is the client as the tracker sees it, for audit and logs:
// the connection's peer, or the forwarded client and the proxy it came
// through.
func (s *Server) remoteLabel(r *http.Request) string {
	if client, via := s.clientAddr(r); via != "" {
		return client.String() + " via " + via
	}
	return r.RemoteAddr
}

// handleTrackKey serves a track's content key to an authenticated session,
// recording the request in the audit log first: no audit row, no key. It
// checks the session itself (the route is not wrapped in requireSession):
// the session check, the key read and the audit row are one batched store
// call (grantKey), so a key request costs no database round trip of its
// own. Nothing about a session is cached: a token revoked or rotated on
// any tracker sharing the store is refused by the next batch.
func (s *Server) handleTrackKey(w http.ResponseWriter, r *http.Request) {
	hash, ok := s.accessHash(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id, err := trackID(r)
	if err != nil {
		// As on every other route: an unauthenticated request learns
		// nothing, not even that its track ID is malformed.
		sess, serr := s.store.SessionByAccess(ctx, hash)
		if _, ok := s.checkSession(w, r, hash, sess, serr); ok {
			s.writeError(w, r, err)
		}
		return
	}
	g, err := s.grantKey(ctx, r, hash, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.TrackKeyResponse{TrackID: id, Key: g.Key})
}

// grantKey asks the audit's group commit for track id's key for the
// session of access token hash, on behalf of request r: the granted result
// (key and account, the audit row written; counted and logged, with attrs
// added to the log line), or the error to answer with: 401 for a session
// unknown or expired, 404 for no such track, else the store's.
func (s *Server) grantKey(ctx context.Context, r *http.Request, hash []byte, id string, attrs ...slog.Attr) (store.KeyGrantResult, error) {
	remote := s.remoteLabel(r)
	g, err := s.grant(ctx, hash, id, remote)
	if err != nil {
		return g, err
	}
	s.metrics.keysServed.Inc()
	s.log.LogAttrs(ctx, slog.LevelInfo, "track key served", append([]slog.Attr{slog.String("account", g.Account),
		slog.String("track", id), slog.String("remote", remote)}, attrs...)...)
	return g, nil
}

// grant is grantKey's store call and its classification.
func (s *Server) grant(ctx context.Context, hash []byte, id, remote string) (store.KeyGrantResult, error) {
	at := s.clock.Now()
	g, err := s.audit.record(ctx, store.KeyGrant{AccessHash: hash, TrackID: id, At: at, RemoteAddr: remote})
	switch {
	case err != nil:
		return g, err
	case !g.Found:
		return g, unauthorized("invalid access token")
	case !at.Before(g.AccessExpiresAt):
		return g, unauthorized("access token expired")
	case !g.Granted:
		return g, notFound("no such track")
	}
	return g, nil
}
