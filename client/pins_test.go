package client

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chorus-music/chorus/protocol"
)

type keyChain struct {
	privs []ed25519.PrivateKey
	set   []protocol.SigningKey
}

func newChain(t *testing.T, n int) *keyChain {
	t.Helper()
	kc := &keyChain{}
	for i := 0; i < n; i++ {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		k := protocol.SigningKey{KeyID: string(rune('a' + i)), PublicKey: pub}
		if i > 0 {
			k.EndorsedBy = kc.set[i-1].KeyID
			k.Endorsement = ed25519.Sign(kc.privs[i-1], protocol.EndorsementMessage(pub))
		}
		kc.privs = append(kc.privs, priv)
		kc.set = append(kc.set, k)
	}
	return kc
}

func TestPinsTrustOnFirstUseThenEndorsement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pins.json")
	p, err := OpenPins(path)
	if err != nil {
		t.Fatal(err)
	}
	kc := newChain(t, 3)
	if err := p.Update(kc.set[:2]); err != nil {
		t.Fatalf("first Update: %v", err)
	}
	if got := len(p.Keys()); got != 2 {
		t.Fatalf("pinned %d keys on first use; want 2", got)
	}
	// Reopen from disk: the pins persist, and the rotated key is accepted
	// through its endorsement.
	p2, err := OpenPins(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Update(kc.set); err != nil {
		t.Fatalf("Update with rotated key: %v", err)
	}
	if _, ok := p2.Keys()["c"]; !ok {
		t.Fatalf("endorsed key c not pinned; pins = %v", p2.Keys())
	}

	// A key endorsed by nobody we trust is ignored.
	stranger := newChain(t, 1).set[0]
	stranger.KeyID = "z"
	stranger.EndorsedBy = "a"
	stranger.Endorsement = make([]byte, ed25519.SignatureSize)
	if err := p2.Update([]protocol.SigningKey{stranger}); err != nil {
		t.Fatalf("Update with stranger: %v", err)
	}
	if _, ok := p2.Keys()["z"]; ok {
		t.Fatal("a key with a forged endorsement was pinned")
	}

	// A pinned key ID whose public key changes is refused.
	swapped := kc.set[0]
	swapped.PublicKey = stranger.PublicKey
	if err := p2.Update([]protocol.SigningKey{swapped}); !errors.Is(err, ErrUntrustedKey) {
		t.Fatalf("Update with swapped key = %v; want ErrUntrustedKey", err)
	}
}

func TestPinsCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pins.json")
	if err := writeFile(path, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPins(path); err == nil {
		t.Fatal("OpenPins(corrupt file) = nil error; want an error")
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
