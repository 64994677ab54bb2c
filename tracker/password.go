package tracker

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters for new password hashes.
// Stored hashes carry their own parameters, so changing these affects only
// hashes made afterwards.
type Argon2Params struct {
	Time    uint32 // passes; zero means 2
	MemoryK uint32 // memory in KiB; zero means 64 MiB (65536)
	Threads uint8  // lanes; zero means 2
}

// Bounds on Argon2 parameters, for configured values and for values read
// back from stored hashes (a corrupt row must not make a login allocate
// gigabytes or spin for minutes).
const (
	maxArgonTime    = 64
	maxArgonMemoryK = 1 << 20 // 1 GiB
	maxArgonThreads = 64
	argonSaltLen    = 16
	argonKeyLen     = 32
)

func (p Argon2Params) withDefaults() Argon2Params {
	if p.Time == 0 {
		p.Time = 2
	}
	if p.MemoryK == 0 {
		p.MemoryK = 64 << 10
	}
	if p.Threads == 0 {
		p.Threads = 2
	}
	return p
}

func (p Argon2Params) validate() error {
	if p.Time > maxArgonTime || p.MemoryK > maxArgonMemoryK || p.Threads > maxArgonThreads {
		return fmt.Errorf("%w: argon2 params %+v out of range", ErrOptions, p)
	}
	if p.MemoryK < 8*uint32(p.Threads) {
		return fmt.Errorf("%w: argon2 memory %d KiB below 8 KiB per thread", ErrOptions, p.MemoryK)
	}
	return nil
}

// hashPassword returns a PHC-style argon2id string:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>, salt and hash
// in unpadded standard base64.
func hashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("tracker: password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryK, p.Threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryK, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// parsedHash is a decoded PHC argon2id string.
type parsedHash struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

func parseHash(encoded string) (parsedHash, error) {
	var ph parsedHash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return ph, fmt.Errorf("%w: not an argon2id hash", ErrBadHash)
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return ph, fmt.Errorf("%w: version %q", ErrBadHash, parts[2])
	}
	var m, t uint32
	var p uint8
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || n != 3 {
		return ph, fmt.Errorf("%w: params %q", ErrBadHash, parts[3])
	}
	ph.params = Argon2Params{Time: t, MemoryK: m, Threads: p}
	if t == 0 || p == 0 || ph.params.validate() != nil {
		return ph, fmt.Errorf("%w: params %q out of range", ErrBadHash, parts[3])
	}
	var err error
	b64 := base64.RawStdEncoding
	if ph.salt, err = b64.DecodeString(parts[4]); err != nil || len(ph.salt) < 8 {
		return ph, fmt.Errorf("%w: salt", ErrBadHash)
	}
	if ph.key, err = b64.DecodeString(parts[5]); err != nil || len(ph.key) < 16 || len(ph.key) > 64 {
		return ph, fmt.Errorf("%w: key", ErrBadHash)
	}
	return ph, nil
}

// checkPassword reports whether password matches the encoded hash, in time
// independent of where the two differ.
func checkPassword(encoded, password string) (bool, error) {
	ph, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), ph.salt, ph.params.Time, ph.params.MemoryK, ph.params.Threads, uint32(len(ph.key)))
	return subtle.ConstantTimeCompare(got, ph.key) == 1, nil
}
