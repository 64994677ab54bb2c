package origin

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/chorus-music/chorus/internal/atomicfile"
)

// Dev certificate files written by DevCertificate in its directory. Clients
// trust DevCAFile.
const (
	DevCAFile      = "origin-ca.pem"
	DevCAKeyFile   = "origin-ca-key.pem"
	DevCertFile    = "origin-cert.pem"
	DevCertKeyFile = "origin-key.pem"
)

// Validity of dev certificates, and how close to expiry one is replaced.
const (
	devCAValidity   = 10 * 365 * 24 * time.Hour
	devLeafValidity = 2 * 365 * 24 * time.Hour
	devRenewBefore  = 30 * 24 * time.Hour
)

// devDefaultHosts are always in a dev certificate.
var devDefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// DevCertificate returns a development server certificate for 127.0.0.1, ::1,
// localhost and hosts (IP addresses or DNS names), signed by a self-signed
// ECDSA P-256 CA, and a pool holding that CA for clients to trust.
//
// The CA and the certificate are PEM files in dir (DevCAFile, DevCAKeyFile,
// DevCertFile, DevCertKeyFile; keys mode 0600). Existing files are reused
// while they are valid for another 30 days and the certificate covers every
// host asked for; otherwise the certificate (and, if needed, the CA) is
// issued anew. A file lock in dir serialises processes sharing it.
func DevCertificate(dir string, hosts []string) (tls.Certificate, *x509.CertPool, error) {
	return devCertificate(dir, hosts, time.Now())
}

func devCertificate(dir string, hosts []string, now time.Time) (tls.Certificate, *x509.CertPool, error) {
	var none tls.Certificate
	if dir == "" {
		return none, nil, fmt.Errorf("%w: empty certificate directory", ErrBadOptions)
	}
	want := slices.Concat(devDefaultHosts, hosts)
	for _, h := range want {
		if h == "" {
			return none, nil, fmt.Errorf("%w: empty host name", ErrBadOptions)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return none, nil, fmt.Errorf("origin: dev cert dir: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return none, nil, fmt.Errorf("origin: lock dev cert dir: %w", err)
	}
	defer unlock()

	ca, caKey, err := loadDevCA(dir, now)
	if err != nil {
		ca, caKey, err = newDevCA(dir, now)
		if err != nil {
			return none, nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	cert, err := loadDevLeaf(dir, pool, want, now)
	if err != nil {
		cert, err = newDevLeaf(dir, ca, caKey, want, now)
		if err != nil {
			return none, nil, err
		}
	}
	return cert, pool, nil
}

// loadDevCA reads the CA and its key; it fails if either is missing,
// unreadable, mismatched or near expiry.
func loadDevCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, DevCAFile), filepath.Join(dir, DevCAKeyFile))
	if err != nil {
		return nil, nil, err
	}
	ca := pair.Leaf
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if ca == nil || !ok || !ca.IsCA || ca.NotAfter.Before(now.Add(devRenewBefore)) || now.Before(ca.NotBefore) {
		return nil, nil, errors.New("dev CA unusable")
	}
	return ca, key, nil
}

// loadDevLeaf reads the server certificate and checks that it chains to the
// CA in roots, covers every host in want and is not near expiry.
func loadDevLeaf(dir string, roots *x509.CertPool, want []string, now time.Time) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, DevCertFile), filepath.Join(dir, DevCertKeyFile))
	if err != nil {
		return pair, err
	}
	leaf := pair.Leaf
	if leaf == nil || leaf.NotAfter.Before(now.Add(devRenewBefore)) {
		return pair, errors.New("dev certificate unusable")
	}
	for _, h := range want {
		_, err := leaf.Verify(x509.VerifyOptions{
			DNSName:     h,
			Roots:       roots,
			CurrentTime: now,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return pair, err
		}
	}
	return pair, nil
}

func newDevCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("origin: dev CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{Organization: []string{"Chorus dev"}, CommonName: "Chorus dev origin CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(devCAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("origin: dev CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("origin: dev CA: %w", err)
	}
	if err := writePEMs(dir, DevCAFile, DevCAKeyFile, [][]byte{der}, key); err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

func newDevLeaf(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, now time.Time) (tls.Certificate, error) {
	var none tls.Certificate
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return none, fmt.Errorf("origin: dev cert key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{Organization: []string{"Chorus dev"}, CommonName: "Chorus dev origin"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(devLeafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return none, fmt.Errorf("origin: dev cert: %w", err)
	}
	if err := writePEMs(dir, DevCertFile, DevCertKeyFile, [][]byte{der, ca.Raw}, key); err != nil {
		return none, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return none, fmt.Errorf("origin: dev cert: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// writePEMs writes a certificate chain and its key, each atomically; the key
// file gets mode 0600.
func writePEMs(dir, certName, keyName string, chain [][]byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("origin: marshal key: %w", err)
	}
	var certPEM bytes.Buffer
	for _, der := range chain {
		if err := pem.Encode(&certPEM, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
			return fmt.Errorf("origin: encode certificate: %w", err)
		}
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	// Key first: a cert file never points at a key that is not there yet.
	if err := atomicfile.WriteFile(filepath.Join(dir, keyName), keyPEM, atomicfile.Options{Perm: 0o600}); err != nil {
		return fmt.Errorf("origin: write %s: %w", keyName, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, certName), certPEM.Bytes(), atomicfile.Options{Perm: 0o644}); err != nil {
		return fmt.Errorf("origin: write %s: %w", certName, err)
	}
	return nil
}

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("origin: serial number: %v", err))
	}
	return n
}

// LoadCertificate loads a production certificate chain and key from PEM
// files.
func LoadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return cert, fmt.Errorf("origin: load certificate %q / %q: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// LoadCertPool reads PEM certificates (such as a dev CA file) into a pool
// that clients can trust.
func LoadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("origin: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("origin: %s holds no PEM certificate: %w", file, fs.ErrInvalid)
	}
	return pool, nil
}

// ServerTLSConfig returns the TLS configuration a Server needs: cert, TLS
// 1.2 at least, and ALPN for h2 and http/1.1 (Serve derives the "h3"-only
// configuration for QUIC from it).
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}
