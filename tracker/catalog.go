package tracker

import (
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
// recording the request in the audit log first (batched with concurrent
// requests' entries by the audit log's group commit): no audit row, no key.
// It checks the session itself (the route is not wrapped in
// requireSession): the session and the key come from one store call, one
// database round trip on the hot path instead of two. Nothing about a
// session is cached: a token revoked or rotated on any tracker sharing the
// store is refused at once.
func (s *Server) handleTrackKey(w http.ResponseWriter, r *http.Request) {
	hash, ok := s.accessHash(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id, idErr := trackID(r)
	var sess store.Session
	var key []byte
	var err error
	if idErr != nil {
		// As on every other route: an unauthenticated request learns
		// nothing, not even that its track ID is malformed.
		sess, err = s.store.SessionByAccess(ctx, hash)
	} else {
		sess, key, err = s.store.SessionTrackKey(ctx, hash, id)
	}
	a, ok := s.checkSession(w, r, hash, sess, err)
	if !ok {
		return
	}
	if idErr != nil {
		s.writeError(w, r, idErr)
		return
	}
	if key == nil {
		s.writeError(w, r, notFound("no such track"))
		return
	}
	remote := s.remoteLabel(r)
	if err := s.audit.record(ctx, store.KeyRequest{
		Account: a.account, TrackID: id, At: s.clock.Now(), RemoteAddr: remote,
	}); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.keysServed.Inc()
	s.log.InfoContext(ctx, "track key served", slog.String("account", a.account),
		slog.String("track", id), slog.String("remote", remote))
	writeJSON(w, http.StatusOK, protocol.TrackKeyResponse{TrackID: id, Key: key})
}
