package catalog

import "errors"

var (
	// ErrBadManifest reports a manifest that is malformed, inconsistent or
	// not canonical.
	ErrBadManifest = errors.New("catalog: bad manifest")
	// ErrUnknownKey reports a signature by a key the verifier does not trust.
	ErrUnknownKey = errors.New("catalog: unknown signing key")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("catalog: bad signature")
	// ErrBadKey reports a track key of the wrong length.
	ErrBadKey = errors.New("catalog: bad track key")
	// ErrUnsupportedAudio reports a source file whose format ingest does not know.
	ErrUnsupportedAudio = errors.New("catalog: unsupported audio format")
	// ErrChunkMismatch reports chunk bytes that do not match the manifest's
	// CID or size for that chunk: the sender (peer or origin) is at fault,
	// so the fetch is retryable from another source.
	ErrChunkMismatch = errors.New("catalog: chunk does not match manifest")
	// ErrBadOptions reports invalid IngestOptions.
	ErrBadOptions = errors.New("catalog: bad ingest options")
)
