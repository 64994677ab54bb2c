// Package catalog owns the track model: turning an audio file into an
// encrypted, chunked, content-addressed track, and the manifest that
// describes it.
//
// A track is the source audio cut into fixed-size chunks (ChunkSize), each
// encrypted with the track's random key in AES-256-CTR, where chunk i starts
// at counter block i*ChunkSize/16, so any chunk decrypts alone. Each encrypted
// chunk is named by a CIDv1 (raw codec, sha2-256). The manifest lists the
// chunk CIDs and sizes in order with the track's metadata, and has one
// canonical encoding (see manifest.go); the track ID is the CID (v1, raw,
// sha2-256) of the canonical manifest bytes. The tracker's ed25519 signature
// and its key ID travel beside the manifest, never inside it, so rotating a
// signing key never changes a track ID.
//
// Ingest (ingest.go) streams a source file chunk by chunk into a ChunkSink
// and builds the manifest; clients check and decrypt each chunk with
// DecryptChunk. ReadMetadata (metadata.go) identifies WAV, Ogg Vorbis, MP3
// and FLAC by their magic bytes and reads duration and bitrate from their
// headers with bounded parsers written here, and tags with
// github.com/dhowden/tag, which is only ever handed bounded, picture-free
// input. The subpackage samples synthesises the demo tracks.
//
// catalog imports none of node, client, tracker or origin (nor cmd or
// catalog/samples outside tests). Plaintext audio is never written to disk
// here: ingest reads the source and hands only ciphertext to a ChunkSink.
package catalog
