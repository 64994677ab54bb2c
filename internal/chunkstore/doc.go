// Package chunkstore owns Chorus's on-disk, content-addressed, crash-safe
// directory of encrypted chunks. An origin's store and a node's cache are
// the same format: a directory written by one can be served by the other.
//
// # Layout
//
// A chunk named by CIDv1 (raw codec, sha2-256) lives at
//
//	Dir/<xy>/<cid>
//
// where <cid> is the CID's canonical base32 string and <xy> its
// next-to-last two characters (go-ds-flatfs's "next-to-last/2" sharding;
// the last character of a base32 sha2-256 CID carries only 3 bits, so it
// shards unevenly). Dir/.chunkstore records the layout version once a
// directory is known to be in it.
//
// Two older layouts are converted when a directory is opened, chunk by
// chunk with a rename, losing nothing: the origin's (the last two
// characters) and the cache's, which already was this one. A conversion
// interrupted by a crash resumes at the next Open; the version file is
// written only after every chunk is in place.
//
// # Crash safety
//
// Every write goes to a temporary file ".tmp-*" in the chunk's shard
// directory and is renamed over the final name, so a reader sees no file or
// the whole chunk, never a partial one. How much is synced is the writer's
// choice (Durability): a node's cache syncs each file, an origin's Put syncs
// the file and the directory, and a Batch (one track's ingest) syncs
// nothing until its one Sync, a syncfs(2) of the whole file system. A chunk
// already present is kept only if it still hashes to its CID, so a file
// torn by a crash before its batch was synced is rewritten by the next Put.
// Temporary leftovers are removed by RemoveTemp.
//
// # Recency
//
// A write may set the file's modification time, and Touch sets it later:
// a cache keeps its least-recently-used order in mtimes, which survive a
// restart (List returns them).
//
// # Imports
//
// chunkstore sits low in the tree: it imports no package of this module
// but internal/ ones, so origin, node/cache and cmd can all build on it.
package chunkstore
