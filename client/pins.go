package client

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/chorus-music/chorus/protocol"
)

// PinStore holds the tracker signing keys this client trusts. The first
// Update pins the tracker's whole key set (trust on first use); every later
// Update adds only keys endorsed by an already pinned key. A pinned key ID
// that comes back with a different public key is an error, never a silent
// replacement.
type PinStore struct {
	path string // "" for memory only

	mu   sync.Mutex // guards keys
	keys map[string]ed25519.PublicKey
}

// NewMemoryPins returns a PinStore that lives only in memory.
func NewMemoryPins() *PinStore {
	return &PinStore{keys: map[string]ed25519.PublicKey{}}
}

// OpenPins loads the pinned keys from path (a JSON file), or starts empty if
// it does not exist.
func OpenPins(path string) (*PinStore, error) {
	p := &PinStore{path: path, keys: map[string]ed25519.PublicKey{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: read pinned keys: %w", err)
	}
	var stored map[string][]byte
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, fmt.Errorf("client: pinned keys file %s is corrupt: %w", path, err)
	}
	for id, k := range stored {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("client: pinned key %q in %s has %d bytes", id, path, len(k))
		}
		p.keys[id] = ed25519.PublicKey(k)
	}
	return p, nil
}

// Keys returns a copy of the pinned keys.
func (p *PinStore) Keys() map[string]ed25519.PublicKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]ed25519.PublicKey, len(p.keys))
	for id, k := range p.keys {
		out[id] = k
	}
	return out
}

// Update pins the keys in set that the trust rules accept. set is ordered
// oldest first, as the tracker publishes it.
func (p *PinStore) Update(set []protocol.SigningKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	first := len(p.keys) == 0
	changed := false
	for _, k := range set {
		if len(k.PublicKey) != ed25519.PublicKeySize || k.KeyID == "" {
			return fmt.Errorf("%w: key %q is malformed", ErrUntrustedKey, k.KeyID)
		}
		if old, ok := p.keys[k.KeyID]; ok {
			if !bytes.Equal(old, k.PublicKey) {
				return fmt.Errorf("%w: key %q changed its public key", ErrUntrustedKey, k.KeyID)
			}
			continue
		}
		endorser, endorsed := p.keys[k.EndorsedBy]
		switch {
		case endorsed && ed25519.Verify(endorser, protocol.EndorsementMessage(k.PublicKey), k.Endorsement):
			// Endorsed by a pinned key (or, on first use, by a key pinned
			// earlier in this same set).
		case first && len(p.keys) == 0 && k.EndorsedBy == "":
			// Trust on first use: the tracker's root key.
		default:
			continue // not endorsed by anything we trust
		}
		p.keys[k.KeyID] = append(ed25519.PublicKey(nil), k.PublicKey...)
		changed = true
	}
	if len(p.keys) == 0 {
		return fmt.Errorf("%w: the tracker published no usable key", ErrUntrustedKey)
	}
	if changed {
		return p.saveLocked()
	}
	return nil
}

func (p *PinStore) saveLocked() error {
	if p.path == "" {
		return nil
	}
	stored := make(map[string][]byte, len(p.keys))
	for id, k := range p.keys {
		stored[id] = k
	}
	data, err := json.MarshalIndent(stored, "", "  ")
	if err != nil {
		return fmt.Errorf("client: encode pinned keys: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return fmt.Errorf("client: pinned keys dir: %w", err)
	}
	tmp := p.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("client: write pinned keys: %w", err)
	}
	if err := os.Rename(tmp, p.path); err != nil {
		return fmt.Errorf("client: write pinned keys: %w", err)
	}
	return nil
}
