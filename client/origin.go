package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/protocol"
)

// ChunkSource delivers encrypted chunks by CID. Implementations need not
// verify what they return: the playback verifies every chunk against its CID
// before use. A source classifies its own failures: Fetch returns a
// *FetchError whose Reason tells the scheduler what to make of it (an error
// of another type counts as sched.FailGone, or FailTimeout past the
// context's deadline).
type ChunkSource interface {
	// Name identifies the source in stats and logs, e.g. "origin
	// https://127.0.0.1:4433" or "peer 12D3Koo…".
	Name() string
	// Kind says which column of the play statistics its bytes count in.
	Kind() SourceKind
	// Fetch returns the chunk's ciphertext.
	Fetch(ctx context.Context, c cid.Cid) ([]byte, error)
}

// SourceKind classifies sources for statistics: the scheduler's kinds, so
// the client and sched count in one set of columns. It encodes as "cache",
// "peer" or "origin" (JSON map keys included).
type SourceKind = sched.SourceKind

// Source kinds.
const (
	KindCache  = sched.KindCache
	KindPeer   = sched.KindPeer
	KindOrigin = sched.KindOrigin
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

// Connect opens the connection to the origin (an HTTP/3 or TLS handshake)
// with a small request, so that a start that does not know its chunks yet
// (the manifest is on its way) finds the connection open.
func (o *OriginSource) Connect(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, o.base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: connect to origin %s: %w", o.base, err)
	}
	return resp.Body.Close()
}

// Fetch implements ChunkSource.
func (o *OriginSource) Fetch(ctx context.Context, c cid.Cid) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base+protocol.PathChunkBase+c.String(), nil)
	if err != nil {
		return nil, err
	}
	fail := func(reason sched.FailReason, err error) error {
		return &FetchError{Source: o.Name(), Reason: reason, Err: fmt.Errorf("origin %s: chunk %s: %w", o.base, c, err)}
	}
	resp, err := o.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			err = classifyTransport(err, ErrOriginUnreachable)
		}
		return nil, fail(transportReason(err), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fail(sched.FailDontHave, ErrNotFound)
	case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fail(sched.FailBusy, fmt.Errorf("status %s", resp.Status))
	case resp.StatusCode != http.StatusOK:
		return nil, fail(sched.FailGone, fmt.Errorf("status %s", resp.Status))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, catalog.MaxChunkSize+1))
	if err != nil {
		return nil, fail(transportReason(err), err)
	}
	if len(data) > catalog.MaxChunkSize {
		return nil, fail(sched.FailCorrupt, fmt.Errorf("%w: more than %d bytes", ErrCorruptChunk, catalog.MaxChunkSize))
	}
	return data, nil
}

// transportReason classifies a failed exchange with a source: a timeout, or
// a lost or refused connection.
func transportReason(err error) sched.FailReason {
	if errors.Is(err, context.DeadlineExceeded) {
		return sched.FailTimeout
	}
	return sched.FailGone
}
