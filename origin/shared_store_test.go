package origin

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/node/cache"
	"github.com/chorus-music/chorus/protocol"
)

// serveDir starts an origin on the store at dir and checks that it serves
// every chunk in want, byte for byte, over HTTP/2.
func serveDir(t *testing.T, dir string, want map[cid.Cid][]byte) {
	t.Helper()
	store, err := OpenDirStore(dir)
	if err != nil {
		t.Fatalf("OpenDirStore(%s) = %v", dir, err)
	}
	o := startOrigin(t, func(opts *Options) { opts.Store = store })
	client := o.client(t, clientCases[1])
	for c, data := range want {
		url := o.url + protocol.PathChunkBase + c.String()
		resp, body := get(t, client, http.MethodGet, url, nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			t.Errorf("GET %s = %d, %d bytes; want 200 and the %d bytes written", url, resp.StatusCode, len(body), len(data))
		}
	}
}

func randomChunks(n int) map[cid.Cid][]byte {
	out := map[cid.Cid][]byte{}
	for i := range n {
		data := make([]byte, 1000+i)
		rand.Read(data)
		out[catalog.ChunkCID(data)] = data
	}
	return out
}

// TestOriginServesCacheDirectory: chunks written through a node's cache
// are served, from that same directory, by an origin: one format.
func TestOriginServesCacheDirectory(t *testing.T) {
	dir := t.TempDir()
	c, err := cache.Open(cache.Options{Dir: dir, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatalf("cache.Open = %v", err)
	}
	want := randomChunks(20)
	for id, data := range want {
		if err := c.Put(context.Background(), id, data); err != nil {
			t.Fatalf("cache Put(%s) = %v", id, err)
		}
	}
	c.Close()
	serveDir(t, dir, want)
}

// TestOriginServesOldLayouts: a chunk directory in each layout used before
// the shared store (the origin's: last two characters of the CID; the
// cache's: the two before the last) opens, is converted, and every chunk
// is served.
func TestOriginServesOldLayouts(t *testing.T) {
	for name, shard := range map[string]func(string) string{
		"origin": func(n string) string { return n[len(n)-2:] },
		"cache":  func(n string) string { return n[len(n)-3 : len(n)-1] },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			want := randomChunks(30)
			for id, data := range want {
				n := id.String()
				p := filepath.Join(dir, shard(n), n)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			serveDir(t, dir, want)
			// And the converted directory is a cache that holds them all.
			c, err := cache.Open(cache.Options{Dir: dir, MaxBytes: 1 << 20})
			if err != nil {
				t.Fatalf("cache.Open(converted) = %v", err)
			}
			defer c.Close()
			for id, data := range want {
				got, err := c.Get(context.Background(), id)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("cache Get(%s) = %d bytes, %v; want the %d written", id, len(got), err, len(data))
				}
			}
		})
	}
}
