package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
)

// ChunkSource delivers encrypted chunks by CID. Implementations need not
// verify what they return: the playback verifies every chunk against its CID
// before use.
type ChunkSource interface {
	// Name identifies the source in stats and logs, e.g. "origin
	// https://127.0.0.1:4433" or "peer 12D3Koo…".
	Name() string
	// Kind says which column of the play statistics its bytes count in.
	Kind() SourceKind
	// Fetch returns the chunk's ciphertext.
	Fetch(ctx context.Context, c cid.Cid) ([]byte, error)
}

// SourceKind classifies sources for statistics.
type SourceKind string

// Source kinds.
const (
	KindCache  SourceKind = "cache"
	KindPeer   SourceKind = "peer"
	KindOrigin SourceKind = "origin"
)

// OriginSource fetches chunks from an origin server over HTTP (HTTP/3 when
// its client is an HTTP/3 client).
type OriginSource struct {
	base string
	http *http.Client
}

var _ ChunkSource = (*OriginSource)(nil)

// NewOriginSource returns a source for the origin at baseURL using hc.
func NewOriginSource(baseURL string, hc *http.Client) (*OriginSource, error) {
	if !strings.HasPrefix(baseURL, "https://") && !strings.HasPrefix(baseURL, "http://") {
		return nil, fmt.Errorf("client: origin URL %q must be http(s)://", baseURL)
	}
	if hc == nil {
		return nil, fmt.Errorf("client: origin %s needs an HTTP client", baseURL)
	}
	return &OriginSource{base: strings.TrimSuffix(baseURL, "/"), http: hc}, nil
}

// Name implements ChunkSource.
func (o *OriginSource) Name() string { return "origin " + o.base }

// Kind implements ChunkSource.
func (o *OriginSource) Kind() SourceKind { return KindOrigin }

// Fetch implements ChunkSource.
func (o *OriginSource) Fetch(ctx context.Context, c cid.Cid) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base+protocol.PathChunkBase+c.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("origin %s: chunk %s: %w", o.base, c, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("origin %s: chunk %s: %w", o.base, c, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("origin %s: chunk %s: status %s", o.base, c, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, catalog.MaxChunkSize+1))
	if err != nil {
		return nil, fmt.Errorf("origin %s: chunk %s: %w", o.base, c, err)
	}
	if len(data) > catalog.MaxChunkSize {
		return nil, fmt.Errorf("origin %s: chunk %s exceeds %d bytes", o.base, c, catalog.MaxChunkSize)
	}
	return data, nil
}
