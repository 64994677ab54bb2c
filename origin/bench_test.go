package origin

import (
	"io"
	"net/http"
	"testing"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
)

// BenchmarkFetchChunk fetches one ChunkSize chunk over loopback, on a
// reused connection and on a fresh connection (new client, full handshake)
// per request, over HTTP/3 and HTTP/2.
//
//	go test -run XXX -bench FetchChunk -benchtime 2s ./origin/
func BenchmarkFetchChunk(b *testing.B) {
	o := startOrigin(b, nil)
	_, c := putRandom(b, o.store, catalog.ChunkSize)
	url := o.url + protocol.PathChunkBase + c.String()
	fetch := func(b *testing.B, client *http.Client) {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatalf("GET %s: %v", url, err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != catalog.ChunkSize || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s = %d, %d bytes, %v; want 200, %d bytes", url, resp.StatusCode, n, err, catalog.ChunkSize)
		}
	}
	for _, cc := range clientCases[:2] {
		b.Run(cc.name+"/reused", func(b *testing.B) {
			client := o.client(b, cc)
			fetch(b, client) // warm the connection
			b.SetBytes(catalog.ChunkSize)
			for b.Loop() {
				fetch(b, client)
			}
		})
		b.Run(cc.name+"/fresh", func(b *testing.B) {
			b.SetBytes(catalog.ChunkSize)
			for b.Loop() {
				client := cc.make(o.roots)
				fetch(b, client)
				CloseClient(client)
			}
		})
	}
}
