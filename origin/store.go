package origin

import (
	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/internal/chunkstore"
)

// DirStore is the origin's content-addressed directory of encrypted
// chunks: a chunkstore.Store, the same format as a node's cache, so either
// directory can be served by the other (see internal/chunkstore for the
// layout and its crash safety). Put syncs each chunk; Batch defers to one
// sync per ingest.
type DirStore = chunkstore.Store

// Batch is a DirStore sink with one sync at the end; see DirStore.Batch.
type Batch = chunkstore.Batch

var (
	_ catalog.ChunkSink = (*DirStore)(nil)
	_ catalog.ChunkSink = (*Batch)(nil)
)

// OpenDirStore opens (creating it if needed) the chunk store rooted at
// root, bounded to catalog.MaxChunkSize per chunk. A directory in an older
// layout is converted first (chunkstore.Open).
func OpenDirStore(root string) (*DirStore, error) {
	return chunkstore.Open(chunkstore.Options{Dir: root, MaxChunkSize: catalog.MaxChunkSize})
}

// CheckChunkCID reports (as ErrBadCID) whether c is not the kind of CID
// chunks are named by: CIDv1, raw codec, sha2-256.
var CheckChunkCID = chunkstore.CheckCID
