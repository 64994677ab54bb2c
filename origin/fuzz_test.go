package origin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
)

// FuzzParseChunkPath: any path gives a chunk CID or ErrBadCID, never a
// panic, and a chunk CID's own path parses back to it.
func FuzzParseChunkPath(f *testing.F) {
	good := catalog.ChunkCID([]byte("seed"))
	for _, s := range []string{
		protocol.PathChunkBase + good.String(),
		"/chunks/",
		"/chunks/not-a-cid",
		"/chunks/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
		"/other",
		"/chunks/" + good.String() + "/x",
		"/chunks/\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		c, err := ParseChunkPath(path)
		if err != nil {
			if !errors.Is(err, ErrBadCID) {
				t.Fatalf("ParseChunkPath(%q) = %v; want ErrBadCID", path, err)
			}
			return
		}
		if err := CheckChunkCID(c); err != nil {
			t.Fatalf("ParseChunkPath(%q) = %s, which CheckChunkCID rejects: %v", path, c, err)
		}
		again, err := ParseChunkPath(protocol.PathChunkBase + c.String())
		if err != nil || !again.Equals(c) {
			t.Fatalf("ParseChunkPath(canonical %s) = %s, %v; want itself", c, again, err)
		}
	})
}

// FuzzChunkHandler: the chunk route answers any path, Range and
// If-None-Match with a sensible status, never a panic.
func FuzzChunkHandler(f *testing.F) {
	store, err := OpenDirStore(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	data := make([]byte, 1000)
	c := catalog.ChunkCID(data)
	if err := store.Put(f.Context(), c, data); err != nil {
		f.Fatal(err)
	}
	cert, _, err := DevCertificate(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(Options{Store: store, TLS: ServerTLSConfig(cert)})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	path := protocol.PathChunkBase + c.String()
	f.Add(path, "bytes=100-199", "")
	f.Add(path, "bytes=-5", `"`+c.String()+`"`)
	f.Add(path, "bytes=0-1,5-9", "")
	f.Add(path, "bytes=999999999999999999999-", "*")
	f.Add("/chunks/zz", "", "")
	f.Fuzz(func(t *testing.T, p, rng, inm string) {
		req := &http.Request{
			Method:     http.MethodGet,
			URL:        &url.URL{Path: p},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{},
		}
		req = req.WithContext(t.Context())
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusPartialContent, http.StatusNotModified,
			http.StatusRequestedRangeNotSatisfiable, http.StatusBadRequest, http.StatusNotFound,
			http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect: // ServeMux path cleaning
		default:
			t.Fatalf("GET %q Range %q If-None-Match %q = %d", p, rng, inm, rec.Code)
		}
		if rec.Code == http.StatusOK && p == path && rec.Body.Len() != len(data) {
			t.Fatalf("GET %q = %d bytes; want %d", p, rec.Body.Len(), len(data))
		}
	})
}
