package catalog

import (
	"context"

	"github.com/ipfs/go-cid"
)

// ChunkSink receives encrypted chunks during ingest. The origin's chunk store
// implements it. Put must be idempotent: the same CID may arrive twice.
type ChunkSink interface {
	Put(ctx context.Context, c cid.Cid, ciphertext []byte) error
}
