package tracker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker/store"
)

// Keyring holds the tracker's ed25519 signing keys, backed by the store.
// The newest key is current and signs manifests and tickets; earlier keys
// are retired but still published, so what they signed keeps verifying.
// Each key after the first is endorsed by its predecessor.
type Keyring struct {
	store store.Store
	clock clock.Clock

	mu       sync.RWMutex       // guards keys and loadedAt
	keys     []store.SigningKey // oldest first; the last is current
	loadedAt time.Time          // when keys were read from the store

	refreshing atomic.Bool // a fresh() re-read is under way
}

// KeyID derives a key's ID from its public key: the first 8 bytes of its
// SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// openKeyring loads the keys, creating the first if the store has none.
func openKeyring(ctx context.Context, st store.Store, clk clock.Clock) (*Keyring, error) {
	k := &Keyring{store: st, clock: clk}
	if err := k.reload(ctx); err != nil {
		return nil, err
	}
	if len(k.keys) > 0 {
		return k, nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tracker: generate signing key: %w", err)
	}
	first := store.SigningKey{ID: KeyID(pub), PublicKey: pub, PrivateKey: priv, CreatedAt: clk.Now()}
	if err := st.PutSigningKey(ctx, first); err != nil && !errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("tracker: store first signing key: %w", err)
	}
	// Another tracker on the same store may have raced us; reload either way.
	if err := k.reload(ctx); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		return nil, fmt.Errorf("tracker: no signing key after creating one")
	}
	return k, nil
}

func (k *Keyring) reload(ctx context.Context) error {
	keys, err := k.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("tracker: load signing keys: %w", err)
	}
	for _, sk := range keys {
		if len(sk.PublicKey) != ed25519.PublicKeySize || len(sk.PrivateKey) != ed25519.PrivateKeySize {
			return fmt.Errorf("%w: signing key %s has bad key lengths", ErrKeyring, sk.ID)
		}
	}
	k.mu.Lock()
	k.keys = keys
	k.loadedAt = k.clock.Now()
	k.mu.Unlock()
	return nil
}

// fresh returns the current key pair as the store has it, re-reading the
// key set first if it was read maxAge or longer ago, so that a key
// another tracker on the same store rotated in is used within maxAge (and
// a little: while one caller re-reads, concurrent ones use the keys at
// hand rather than all re-reading at once). A failed re-read keeps the
// keys it has (still valid, only perhaps not the newest) and reports the
// error.
func (k *Keyring) fresh(ctx context.Context, maxAge time.Duration) (store.SigningKey, error) {
	k.mu.RLock()
	stale := k.clock.Now().Sub(k.loadedAt) >= maxAge
	k.mu.RUnlock()
	var err error
	if stale && k.refreshing.CompareAndSwap(false, true) {
		err = k.reload(ctx)
		k.refreshing.Store(false)
	}
	return k.current(), err
}

// current returns the current key pair. The keyring is never empty once
// opened.
func (k *Keyring) current() store.SigningKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[len(k.keys)-1]
}

// Sign signs msg with the current key and returns its ID and the signature.
func (k *Keyring) Sign(msg []byte) (keyID string, sig []byte) {
	cur := k.current()
	return cur.ID, ed25519.Sign(ed25519.PrivateKey(cur.PrivateKey), msg)
}

// CurrentID returns the current key's ID.
func (k *Keyring) CurrentID() string { return k.current().ID }

// PublicKeys returns every key's public half by ID, retired keys included.
func (k *Keyring) PublicKeys() map[string]ed25519.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make(map[string]ed25519.PublicKey, len(k.keys))
	for _, sk := range k.keys {
		out[sk.ID] = ed25519.PublicKey(sk.PublicKey)
	}
	return out
}

// Published returns the key set as GET /v1/keys serves it, oldest first.
func (k *Keyring) Published() protocol.SigningKeys {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := protocol.SigningKeys{Keys: make([]protocol.SigningKey, 0, len(k.keys))}
	for _, sk := range k.keys {
		out.Keys = append(out.Keys, protocol.SigningKey{
			KeyID: sk.ID, PublicKey: sk.PublicKey, CreatedAt: sk.CreatedAt, Retired: sk.Retired(),
			EndorsedBy: sk.EndorsedBy, Endorsement: sk.Endorsement,
		})
	}
	return out
}

// Rotate makes a new current key, endorsed by the current one, and retires
// the current one. It returns the new key's ID.
func (k *Keyring) Rotate(ctx context.Context) (string, error) {
	cur := k.current()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("tracker: generate signing key: %w", err)
	}
	next := store.SigningKey{
		ID: KeyID(pub), PublicKey: pub, PrivateKey: priv, CreatedAt: k.clock.Now(),
		EndorsedBy:  cur.ID,
		Endorsement: ed25519.Sign(ed25519.PrivateKey(cur.PrivateKey), protocol.EndorsementMessage(pub)),
	}
	if err := k.store.RotateSigningKey(ctx, cur.ID, next); err != nil {
		// ErrConflict: someone else rotated; pick up their key.
		k.reload(ctx) //nolint:errcheck // the rotation error is the one to report
		return "", fmt.Errorf("tracker: rotate signing key: %w", err)
	}
	if err := k.reload(ctx); err != nil {
		return "", err
	}
	return next.ID, nil
}

// VerifyKeyChain checks a published key set as a client would: starting from
// the keys in pinned (key ID to public key, e.g. pinned at first login),
// every later key must carry a valid endorsement by a key already trusted.
// It returns the trusted set, pinned keys plus every key reachable by
// endorsement. Keys that are neither pinned nor endorsed by a trusted key
// are left out; ErrKeyring if none of the pinned keys is in the set.
func VerifyKeyChain(keys protocol.SigningKeys, pinned map[string]ed25519.PublicKey) (map[string]ed25519.PublicKey, error) {
	trusted := make(map[string]ed25519.PublicKey, len(keys.Keys))
	anchored := false
	for _, sk := range keys.Keys {
		if pin, ok := pinned[sk.KeyID]; ok {
			if !pin.Equal(ed25519.PublicKey(sk.PublicKey)) {
				return nil, fmt.Errorf("%w: key %s differs from the pinned key", ErrKeyring, sk.KeyID)
			}
			trusted[sk.KeyID] = pin
			anchored = true
			continue
		}
		if len(sk.PublicKey) != ed25519.PublicKeySize || KeyID(sk.PublicKey) != sk.KeyID {
			continue
		}
		by, ok := trusted[sk.EndorsedBy]
		if !ok || !ed25519.Verify(by, protocol.EndorsementMessage(sk.PublicKey), sk.Endorsement) {
			continue
		}
		trusted[sk.KeyID] = ed25519.PublicKey(sk.PublicKey)
	}
	if !anchored {
		return nil, fmt.Errorf("%w: no pinned key in the published set", ErrKeyring)
	}
	return trusted, nil
}
