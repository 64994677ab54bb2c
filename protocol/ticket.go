package protocol

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Ticket admits one libp2p peer ID to the swarm on behalf of one account,
// until ExpiresAt. The tracker signs it; nodes exchange tickets on connecting
// and close connections whose ticket does not verify.
type Ticket struct {
	TicketBody
	Signature []byte `json:"signature"` // ed25519 over TicketSigningBytes(body)
}

// TicketBody is the signed part of a ticket.
type TicketBody struct {
	Version   int    `json:"v"`          // TicketVersion
	PeerID    string `json:"peer_id"`    // libp2p peer ID, string form
	Account   string `json:"account"`    // account name the peer acts for
	IssuedAt  int64  `json:"issued_at"`  // unix seconds
	ExpiresAt int64  `json:"expires_at"` // unix seconds
	KeyID     string `json:"key_id"`     // tracker signing key that signed it
}

// TicketVersion is the current ticket format.
const TicketVersion = 1

// MaxTicketSize bounds an encoded ticket on the wire.
const MaxTicketSize = 4 << 10

// Ticket verification errors.
var (
	ErrTicketExpired   = errors.New("ticket expired")
	ErrTicketSignature = errors.New("ticket signature invalid")
	ErrTicketPeer      = errors.New("ticket issued for another peer")
	ErrTicketKey       = errors.New("ticket signed by an unknown key")
	ErrTicketMalformed = errors.New("ticket malformed")
)

// TicketSigningBytes is what the tracker signs: a domain-separation prefix and
// the body's JSON encoding (Go's encoding/json: fields in declaration order,
// no whitespace).
func TicketSigningBytes(b TicketBody) []byte {
	body, err := json.Marshal(b)
	if err != nil {
		// TicketBody holds only strings and integers; Marshal cannot fail.
		panic(fmt.Sprintf("protocol: marshal ticket body: %v", err))
	}
	return append([]byte("chorus-ticket-v1\n"), body...)
}

// SignTicket signs body with priv.
func SignTicket(body TicketBody, priv ed25519.PrivateKey) Ticket {
	return Ticket{TicketBody: body, Signature: ed25519.Sign(priv, TicketSigningBytes(body))}
}

// Verify checks t's signature against keys (key ID to public key), that it
// names peerID, and that it has not expired at now.
func (t Ticket) Verify(keys map[string]ed25519.PublicKey, peerID string, now time.Time) error {
	if t.Version != TicketVersion || t.PeerID == "" || t.Account == "" || len(t.Signature) != ed25519.SignatureSize {
		return ErrTicketMalformed
	}
	pub, ok := keys[t.KeyID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrTicketKey, t.KeyID)
	}
	if !ed25519.Verify(pub, TicketSigningBytes(t.TicketBody), t.Signature) {
		return ErrTicketSignature
	}
	if t.PeerID != peerID {
		return fmt.Errorf("%w: ticket names %s", ErrTicketPeer, t.PeerID)
	}
	if now.Unix() >= t.ExpiresAt {
		return fmt.Errorf("%w at %s", ErrTicketExpired, time.Unix(t.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// Expires reports the ticket's expiry time.
func (t Ticket) Expires() time.Time { return time.Unix(t.ExpiresAt, 0) }

// DecodeTicket parses an encoded ticket, rejecting oversized input.
func DecodeTicket(b []byte) (Ticket, error) {
	var t Ticket
	if len(b) > MaxTicketSize {
		return t, fmt.Errorf("%w: %d bytes", ErrTicketMalformed, len(b))
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("%w: %v", ErrTicketMalformed, err)
	}
	return t, nil
}

// EndorsementMessage is what a tracker signing key signs to endorse the next
// key in a rotation.
func EndorsementMessage(newPub ed25519.PublicKey) []byte {
	return append([]byte("chorus-key-endorsement-v1\n"), newPub...)
}
