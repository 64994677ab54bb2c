package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/chorus-music/chorus/client/sched"
)

var (
	// ErrNotLoggedIn reports a call that needs a session before Login.
	ErrNotLoggedIn = errors.New("client: not logged in")
	// ErrUnauthorized reports a tracker answer of 401: bad credentials or an
	// expired session that could not be renewed.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrRateLimited reports a tracker answer of 429.
	ErrRateLimited = errors.New("client: rate limited")
	// ErrBadRequest reports a tracker answer of 400: a request this
	// tracker does not take (a malformed one, or one of a newer protocol).
	ErrBadRequest = errors.New("client: bad request")
	// ErrNotFound reports a tracker or origin answer of 404.
	ErrNotFound = errors.New("client: not found")
	// ErrUntrustedKey reports tracker signing keys that no pinned key
	// endorses.
	ErrUntrustedKey = errors.New("client: tracker signing key not trusted")
	// ErrNoSource reports a play that could not progress: no source
	// delivered a chunk for the give-up time. The error that carries it
	// (*StuckError) names the cause.
	ErrNoSource = errors.New("client: no source could deliver the chunk")
	// ErrUntrustedOrigin reports an origin whose TLS certificate does not
	// verify against the trusted roots: a dev origin's CA must be given
	// (chorus play --origin-ca DATA/tls/origin-ca.pem).
	ErrUntrustedOrigin = errors.New("client: origin certificate not trusted")
	// ErrOriginUnreachable reports an origin that could not be reached:
	// connection refused, no route, or no QUIC or TLS handshake answer.
	ErrOriginUnreachable = errors.New("client: origin unreachable")
	// ErrTrackerUnreachable reports a tracker that could not be reached.
	ErrTrackerUnreachable = errors.New("client: tracker unreachable")
	// ErrAllCorrupt reports a play whose every source that answered sent
	// chunks that fail their CID check, and was banned.
	ErrAllCorrupt = errors.New("client: every source sent corrupt data")
	// ErrClosed reports use of a closed playback.
	ErrClosed = errors.New("client: playback closed")
	// ErrCorruptChunk reports a chunk that does not match its CID (or
	// exceeds the chunk size limit): the source that sent it is banned for
	// the play.
	ErrCorruptChunk = errors.New("client: chunk does not match its CID")
)

// FetchError is a chunk fetch that failed, classified by the source that
// made it: Reason is what the scheduler makes of it (back off, drop the
// holder, ban the source).
type FetchError struct {
	// Source is the source's Name.
	Source string
	Reason sched.FailReason
	Err    error
}

func (e *FetchError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

// untrustedCert reports whether err says a TLS peer's certificate did not
// verify (crypto/tls over TCP, or inside a QUIC handshake).
func untrustedCert(err error) bool {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &cv)
}

// unreachable reports whether err says no connection could be made or kept:
// a socket error, or a QUIC handshake or idle timeout, reset or transport
// error.
func unreachable(err error) bool {
	var op *net.OpError
	var idle *quic.IdleTimeoutError
	var hs *quic.HandshakeTimeoutError
	var reset *quic.StatelessResetError
	var te *quic.TransportError
	return errors.As(err, &op) || errors.As(err, &idle) || errors.As(err, &hs) || errors.As(err, &reset) ||
		errors.As(err, &te) || errors.Is(err, syscall.ECONNREFUSED)
}

// classifyTransport wraps a failed exchange with a host (a tracker, an
// origin) with the sentinel that says what the user can do about it:
// ErrUntrustedOrigin (origins only), else unreach when the host could not be
// reached. Other errors come back as they are.
func classifyTransport(err error, unreach error) error {
	switch {
	case unreach == ErrOriginUnreachable && untrustedCert(err):
		return fmt.Errorf("%w: %w; trust the CA that signed it (chorus play --origin-ca FILE, e.g. a dev origin's DATA/tls/origin-ca.pem)", ErrUntrustedOrigin, err)
	case unreachable(err):
		return fmt.Errorf("%w: %w", unreach, err)
	}
	return err
}

// StuckError ends a play that could not progress: no chunk arrived for
// After while its playhead waited or stalled. It wraps ErrNoSource and the
// cause, the most telling failure seen: ErrUntrustedOrigin, ErrOriginUnreachable,
// ErrAllCorrupt, the last failure, or nil when no source was ever asked
// (no origin configured, and the lookup found no peer).
type StuckError struct {
	Track  string
	After  time.Duration
	Cause  error
	Banned []string // sources banned during the play
}

func (e *StuckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: play %s: no chunk arrived for %v: ", e.Track, e.After.Round(100*time.Millisecond))
	switch {
	case e.Cause != nil:
		b.WriteString(e.Cause.Error())
	default:
		b.WriteString("no origin answered and no peer holding the track was found")
	}
	if len(e.Banned) > 0 {
		fmt.Fprintf(&b, " (banned: %s)", strings.Join(e.Banned, ", "))
	}
	return b.String()
}

// Unwrap returns ErrNoSource and the cause.
func (e *StuckError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrNoSource}
	}
	return []error{ErrNoSource, e.Cause}
}
