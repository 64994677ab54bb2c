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
	// ErrUnsupportedAudio reports a source file whose format ingest does
	// not know. The source errors below are worded for an operator who
	// reads them after the file's name (see IngestError).
	ErrUnsupportedAudio = errors.New("unsupported audio format")
	// ErrEmpty reports an empty source file.
	ErrEmpty = errors.New("empty file")
	// ErrNotRegular reports a source that is not a regular file (a FIFO, a
	// device, a socket, a directory): ingest refuses it before reading.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTruncated reports a source whose audio frames stop before its
	// header says they should, or whose last frame is cut short.
	ErrTruncated = errors.New("truncated")
	// ErrDamaged reports a source whose frames give way to bytes that are
	// not audio before the end.
	ErrDamaged = errors.New("damaged")
	// ErrChunkMismatch reports chunk bytes that do not match the manifest's
	// CID or size for that chunk: the sender (peer or origin) is at fault,
	// so the fetch is retryable from another source.
	ErrChunkMismatch = errors.New("catalog: chunk does not match manifest")
	// ErrBadOptions reports invalid IngestOptions.
	ErrBadOptions = errors.New("catalog: bad ingest options")
)
