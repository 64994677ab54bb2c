package tracker_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

// copyTestdata copies one of catalog's tagged sample files into dir.
func copyTestdata(t *testing.T, dir, name string) string {
	t.Helper()
	src, err := os.Open(filepath.Join("..", "catalog", "testdata", name))
	if err != nil {
		t.Skipf("catalog test data %s: %v", name, err)
	}
	defer src.Close()
	dst := filepath.Join(dir, name)
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestSearchByTags(t *testing.T) {
	h := trackertest.New(t)
	sink := &trackertest.MemSink{}
	dir := t.TempDir()
	ids := map[string]string{}
	for _, name := range []string{"vorbis.ogg", "flac.flac", "mpeg.mp3"} {
		ids[name] = h.Ingest(t, copyTestdata(t, dir, name), sink).ID
	}
	ids["wav"] = h.Ingest(t, writeWAV(t, dir, "Harbour Band", "Lighthouse Night", 3, 0.5), sink).ID
	sess := h.User(t, "alice")

	tests := []struct {
		q    string
		want []string
	}{
		{"Vorbis Title", []string{"vorbis.ogg"}},
		{"vorbis", []string{"vorbis.ogg"}},
		{"vorb", []string{"vorbis.ogg"}},
		{"Flac Artist", []string{"flac.flac"}},
		{"fla", []string{"flac.flac"}},
		{"Mpeg Album", []string{"mpeg.mp3"}},
		{"album", []string{"vorbis.ogg", "flac.flac", "mpeg.mp3"}},
		{"alb", []string{"vorbis.ogg", "flac.flac", "mpeg.mp3"}},
		{"title", []string{"vorbis.ogg", "flac.flac", "mpeg.mp3"}},
		{"ligh", []string{"wav"}},
		{"harbour", []string{"wav"}},
		{"LIGHTHOUSE night", []string{"wav"}},
		{"lighthouse vorbis", nil},
		{`"vorbis" -*()`, []string{"vorbis.ogg"}},
		{`vorbis OR flac`, nil}, // every word must match: no operators
		{"nothing", nil},
		{"", nil},
	}
	for _, tc := range tests {
		var list protocol.TrackList
		path := protocol.PathSearch + "?q=" + url.QueryEscape(tc.q)
		if code := h.Do(t, http.MethodGet, path, sess.AccessToken, nil, &list); code != http.StatusOK {
			t.Errorf("GET %s = %d; want 200", path, code)
			continue
		}
		var got []string
		for _, tr := range list.Tracks {
			for name, id := range ids {
				if id == tr.ID {
					got = append(got, name)
				}
			}
		}
		want := slices.Clone(tc.want)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || list.Total != len(want) {
			t.Errorf("search %q = %v (total %d); want %v", tc.q, got, list.Total, want)
		}
	}
}

func TestTrackListPaging(t *testing.T) {
	h := trackertest.New(t)
	sink := &trackertest.MemSink{}
	dir := t.TempDir()
	for i := range 5 {
		h.Ingest(t, writeWAV(t, dir, "Pager", "Song "+string(rune('A'+i)), int64(i), 0.2), sink)
	}
	sess := h.User(t, "alice")
	tests := []struct {
		query string
		code  int
		n     int
	}{
		{"", 200, 5},
		{"?limit=2", 200, 2},
		{"?limit=2&offset=4", 200, 1},
		{"?offset=5", 200, 0},
		{"?limit=500", 200, 5},
		{"?limit=501", 400, 0},
		{"?limit=0", 400, 0},
		{"?limit=-1", 400, 0},
		{"?limit=abc", 400, 0},
		{"?limit=1&limit=2", 400, 0},
		{"?offset=-1", 400, 0},
		{"?offset=99999999999999999999", 400, 0},
		{"?limit=%zz", 400, 0},
	}
	for _, tc := range tests {
		for _, base := range []string{protocol.PathTracks, protocol.PathSearch} {
			path := base + tc.query
			if base == protocol.PathSearch {
				sep := "?"
				if tc.query != "" {
					sep = "&"
				}
				path += sep + "q=song"
			}
			var list protocol.TrackList
			var perr protocol.Error
			var out any = &list
			if tc.code != 200 {
				out = &perr
			}
			code := h.Do(t, http.MethodGet, path, sess.AccessToken, nil, out)
			if code != tc.code {
				t.Errorf("GET %s = %d; want %d", path, code, tc.code)
				continue
			}
			if tc.code == 200 && (len(list.Tracks) != tc.n || list.Total != 5) {
				t.Errorf("GET %s = %d tracks (total %d); want %d (total 5)", path, len(list.Tracks), list.Total, tc.n)
			}
			if tc.code == 400 && perr.Code != protocol.CodeBadRequest {
				t.Errorf("GET %s error code %q; want bad_request", path, perr.Code)
			}
		}
	}
	var perr protocol.Error
	long := protocol.PathSearch + "?q=" + strings.Repeat("a", 300)
	if code := h.Do(t, http.MethodGet, long, sess.AccessToken, nil, &perr); code != http.StatusBadRequest {
		t.Errorf("GET search with a 300-byte query = %d; want 400", code)
	}
}

func TestManifestAndKeyBadIDs(t *testing.T) {
	h := trackertest.New(t)
	sess := h.User(t, "alice")
	// A valid CID that is no track, and strings that are no CID.
	missing := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	for _, p := range []string{protocol.PathManifest, protocol.PathTrackKey} {
		if code := h.Do(t, http.MethodGet, fillPattern(p, missing), sess.AccessToken, nil, nil); code != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", fillPattern(p, missing), code)
		}
		for _, bad := range []string{"x", "Qm", "bafy%20", strings.ToUpper(missing)} {
			path := fillPattern(p, bad)
			var perr protocol.Error
			if code := h.Do(t, http.MethodGet, path, sess.AccessToken, nil, &perr); code != http.StatusBadRequest || perr.Code != protocol.CodeBadRequest {
				t.Errorf("GET %s = %d %+v; want 400 bad_request", path, code, perr)
			}
			// Without a valid session the ID is not even looked at.
			for _, tok := range []string{"", strings.Repeat("A", len(sess.AccessToken))} {
				if code := h.Do(t, http.MethodGet, path, tok, nil, nil); code != http.StatusUnauthorized {
					t.Errorf("GET %s with token %q = %d; want 401", path, tok, code)
				}
			}
		}
	}
}
