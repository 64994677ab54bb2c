package node

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/multiformats/go-multiaddr"
)

// Files under Options.DataDir.
const (
	identityFile = "identity.key"    // libp2p-marshalled ed25519 private key, mode 0600
	heldFile     = "provided-tracks" // one track CID per line
	listenFile   = "listen-addrs"    // the configured listen addresses, a blank line, the addresses bound
)

// maxHeldFile bounds the held-tracks file read at start.
const maxHeldFile = 16 << 20

// loadIdentity returns the key in dir, creating it on first start. dir ""
// gives a fresh ephemeral key.
func loadIdentity(dir string) (crypto.PrivKey, error) {
	if dir == "" {
		priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
		return priv, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		priv, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("identity %s: %w", path, err)
		}
		return priv, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read identity: %w", err)
	}
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err = crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("write identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync identity: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close identity: %w", err)
	}
	return priv, nil
}

// parseHeld decodes the held-tracks file: one CID per line, blank lines
// ignored.
func parseHeld(b []byte) ([]cid.Cid, error) {
	if len(b) > maxHeldFile {
		return nil, fmt.Errorf("held tracks file of %d bytes exceeds %d", len(b), maxHeldFile)
	}
	var out []cid.Cid
	for i, line := range bytes.Split(b, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		c, err := cid.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("held tracks line %d: %w", i+1, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// encodeHeld is the inverse of parseHeld, sorted for stable files.
func encodeHeld(cs []cid.Cid) []byte {
	lines := make([]string, 0, len(cs))
	for _, c := range cs {
		lines = append(lines, c.String())
	}
	sort.Strings(lines)
	var buf bytes.Buffer
	for _, l := range lines {
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func loadHeld(dir string) ([]cid.Cid, error) {
	if dir == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, heldFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read held tracks: %w", err)
	}
	return parseHeld(b)
}

// saveHeld writes the held-tracks file atomically (temp file and rename).
func saveHeld(dir string, cs []cid.Cid) error {
	if dir == "" {
		return nil
	}
	tmp, err := os.CreateTemp(dir, heldFile+".tmp*")
	if err != nil {
		return fmt.Errorf("save held tracks: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(encodeHeld(cs)); err != nil {
		tmp.Close()
		return fmt.Errorf("save held tracks: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save held tracks: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, heldFile)); err != nil {
		return fmt.Errorf("save held tracks: %w", err)
	}
	return nil
}

// savedListenAddrs returns the addresses the last run bound for the same
// configured addresses, when any configured address leaves the port to the
// system (udp/0); otherwise, or if nothing usable is saved, nil.
func savedListenAddrs(dir string, configured []string) []string {
	if dir == "" || !slices.ContainsFunc(configured, func(a string) bool { return strings.Contains(a, "/udp/0/") }) {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, listenFile))
	if err != nil || len(b) > 64<<10 {
		return nil
	}
	conf, bound, ok := strings.Cut(string(b), "\n\n")
	if !ok || conf != strings.Join(configured, "\n") {
		return nil
	}
	var out []string
	for _, l := range strings.Split(bound, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if _, err := multiaddr.NewMultiaddr(l); err != nil {
			return nil
		}
		out = append(out, l)
	}
	return out
}

// saveListenAddrs records the addresses bound for the configured ones, so
// the next start listens on the same ports.
func saveListenAddrs(dir string, configured []string, bound []multiaddr.Multiaddr) error {
	if dir == "" {
		return nil
	}
	var buf bytes.Buffer
	buf.WriteString(strings.Join(configured, "\n"))
	buf.WriteString("\n\n")
	for _, a := range bound {
		buf.WriteString(a.String())
		buf.WriteByte('\n')
	}
	return writeFileAtomic(dir, listenFile, buf.Bytes())
}

// writeFileAtomic replaces dir/name with b (a temporary file and rename).
func writeFileAtomic(dir, name string, b []byte) error {
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	return nil
}
