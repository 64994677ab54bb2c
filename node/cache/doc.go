// Package cache is a client node's on-disk cache of encrypted chunks: the
// chunks of what the user played, kept so they can be replayed offline and
// served to peers. It holds ciphertext only; it never sees track keys or
// plaintext audio.
//
// # What it owns
//
// Chunks are content-addressed by their CIDv1 (raw codec, sha2-256, see
// catalog.ChunkCID). Every chunk is verified against its CID when it is put
// and again each time it is read back; a chunk that fails on read is removed
// and reported as a miss (the error wraps both ErrNotFound and ErrCorrupt),
// never served.
//
// The package is split by concern:
//
//   - Policy decides what to evict. LRU is the implementation used by
//     default. A Policy holds no bytes and touches no disk, so a scheduler or
//     simulator can reuse it in memory.
//   - internal/chunkstore reads, writes, removes and lists chunk files and
//     knows nothing about policy or size bounds; it is the origin's store
//     too, so a cache directory and an origin's chunk directory are one
//     format.
//   - Cache composes the two, enforces the size bound, verifies chunks,
//     counts metrics and is safe for concurrent use.
//
// # On disk
//
// The directory is a chunkstore.Store (see internal/chunkstore for its
// layout, Dir/<next-to-last two characters>/<cid>, and its conversion of
// older layouts). Each write goes to a temporary file renamed into place,
// so a process crash never leaves a torn chunk under a final name.
// Temporary leftovers are removed when the cache is opened: the cache is
// its directory's only user. Nothing is fsynced (chunkstore.SyncNone): a
// power loss may forget recent chunks or leave a torn one under its final
// name, and Get, which verifies every chunk against its CID, removes it and
// reports a miss, so the worst case is a refetch. An fsync per 16 KiB chunk
// cost a tenth of a listener's CPU at the start of a play.
//
// # Size bound
//
// Cache never holds more than MaxBytes of chunk data (the sum of the file
// sizes, counting writes in progress, whose space is reserved before the
// write starts). A chunk larger than MaxBytes is refused with ErrTooLarge.
// The default bound, like Spotify's client in 2008, is 10% of the free space
// of the filesystem holding Dir, capped at 10 GiB; the bytes the cache
// already holds there count as free, so the bound does not shrink each time
// the cache is reopened. Least recently used chunks are evicted first; Puts
// and Get hits count as uses, Has and List do not. Options.OnEvict tells the
// owner of each chunk the cache drops by itself, so a node can stop
// announcing chunks it no longer holds.
//
// # Recency across restarts
//
// The directory is the only truth: on Open the index is rebuilt by listing
// it. Recency is kept in the files' modification times. Each use of a chunk
// (a Put or a Get hit) takes a stamp from the injected clock, made strictly
// greater than the previous stamp, and sets it on the file with os.Chtimes;
// on Open the files are fed to the Policy oldest mtime first, so LRU order
// survives a restart. There is no separate index or journal file that could
// be torn: at worst a crash between a rename and its Chtimes leaves the
// write's real time as the hint. On a filesystem with coarse timestamps ties
// are broken by name, which only blurs the order, never the content.
//
// # Imports
//
// cache imports catalog (for CIDs), internal/chunkstore and internal/clock. It must not import
// node (its parent), client, tracker, origin or any libp2p package: the
// node wires the cache to the network, not the other way round.
package cache
