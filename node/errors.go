package node

import "errors"

// nodeError is a sentinel that knows whether retrying makes sense.
type nodeError struct {
	msg       string
	retryable bool
}

func (e *nodeError) Error() string   { return e.msg }
func (e *nodeError) Retryable() bool { return e.retryable }

// Fetch and admission errors. Compare with errors.Is; Retryable says whether
// asking the same peer again later may succeed.
var (
	// ErrDontHave: the peer does not hold the chunk. Not retryable with this
	// peer; ask another one or the origin.
	ErrDontHave error = &nodeError{"node: peer does not have the chunk", false}
	// ErrBusy: the peer has no free upload slot or does not upload.
	// Retryable later; meanwhile ask another peer.
	ErrBusy error = &nodeError{"node: peer is busy", true}
	// ErrPeerGone: the connection or stream to the peer failed or could not
	// be opened. Retryable (a new connection may work).
	ErrPeerGone error = &nodeError{"node: peer gone", true}
	// ErrNotAdmitted: the peer's ticket is missing, expired, forged or
	// issued to another peer (or it refused ours). Not retryable.
	ErrNotAdmitted error = &nodeError{"node: peer not admitted", false}
	// ErrCorruptChunk: the peer sent data that does not hash to the
	// requested CID. Not retryable: callers should stop using the peer.
	ErrCorruptChunk error = &nodeError{"node: chunk does not match its CID", false}
	// ErrRemote: the peer reported an internal error. Retryable.
	ErrRemote error = &nodeError{"node: peer failed to serve the chunk", true}
	// ErrClosed: the node has been closed. Not retryable.
	ErrClosed error = &nodeError{"node: closed", false}
	// ErrInvalidOptions: Options failed validation in New.
	ErrInvalidOptions = errors.New("node: invalid options")
)

// Retryable reports whether err (or an error it wraps) is marked retryable:
// the same peer may answer later. Context errors are not retryable here; the
// caller decides what its own deadline means.
func Retryable(err error) bool {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	return false
}
