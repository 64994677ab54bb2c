package origin

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func verifyHosts(t *testing.T, cert tls.Certificate, roots *x509.CertPool, now time.Time, hosts ...string) {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now})
		if err != nil {
			t.Errorf("dev certificate for %q: Verify = %v; want nil", h, err)
		}
	}
}

func TestDevCertificate(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cert, roots, err := devCertificate(dir, nil, now)
	if err != nil {
		t.Fatalf("devCertificate: %v", err)
	}
	verifyHosts(t, cert, roots, now, "127.0.0.1", "::1", "localhost")
	for name, mode := range map[string]fs.FileMode{DevCAFile: 0o644, DevCAKeyFile: 0o600, DevCertFile: 0o644, DevCertKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("stat %s: %v", name, err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode = %v; want %v", name, fi.Mode().Perm(), mode)
		}
	}
	// The CA file alone is what clients load.
	pool, err := LoadCertPool(filepath.Join(dir, DevCAFile))
	if err != nil {
		t.Fatalf("LoadCertPool: %v", err)
	}
	verifyHosts(t, cert, pool, now, "127.0.0.1")

	// Reused while valid.
	again, _, err := devCertificate(dir, nil, now.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("second devCertificate: %v", err)
	}
	if !bytes.Equal(again.Certificate[0], cert.Certificate[0]) {
		t.Errorf("second devCertificate issued a new certificate; want the stored one")
	}

	// A new host: new leaf, same CA.
	more, roots2, err := devCertificate(dir, []string{"origin.example", "10.1.2.3"}, now)
	if err != nil {
		t.Fatalf("devCertificate(more hosts): %v", err)
	}
	if bytes.Equal(more.Certificate[0], cert.Certificate[0]) {
		t.Errorf("devCertificate(more hosts) reused a certificate that lacks them")
	}
	verifyHosts(t, more, roots2, now, "origin.example", "10.1.2.3", "localhost")
	verifyHosts(t, more, roots, now, "origin.example")

	// Near expiry: everything issued anew.
	late := now.Add(devCAValidity)
	renewed, roots3, err := devCertificate(dir, nil, late)
	if err != nil {
		t.Fatalf("devCertificate(at expiry): %v", err)
	}
	verifyHosts(t, renewed, roots3, late, "127.0.0.1")
}

func TestDevCertificateReplacesGarbage(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{DevCAFile, DevCAKeyFile, DevCertFile, DevCertKeyFile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not PEM"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, roots, err := DevCertificate(dir, nil)
	if err != nil {
		t.Fatalf("DevCertificate over garbage files: %v", err)
	}
	verifyHosts(t, cert, roots, time.Now(), "localhost")
}

func TestDevCertificateBadInput(t *testing.T) {
	if _, _, err := DevCertificate("", nil); !errors.Is(err, ErrBadOptions) {
		t.Errorf("DevCertificate(%q) = %v; want ErrBadOptions", "", err)
	}
	if _, _, err := DevCertificate(t.TempDir(), []string{""}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("DevCertificate(empty host) = %v; want ErrBadOptions", err)
	}
}

func TestLoadCertificate(t *testing.T) {
	dir := t.TempDir()
	want, _, err := DevCertificate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadCertificate(filepath.Join(dir, DevCertFile), filepath.Join(dir, DevCertKeyFile))
	if err != nil {
		t.Fatalf("LoadCertificate: %v", err)
	}
	if !bytes.Equal(got.Certificate[0], want.Certificate[0]) {
		t.Errorf("LoadCertificate returned another certificate")
	}
	if _, err := LoadCertificate(filepath.Join(dir, "missing.pem"), filepath.Join(dir, DevCertKeyFile)); err == nil {
		t.Errorf("LoadCertificate(missing) = nil error")
	}
	if _, err := LoadCertPool(filepath.Join(dir, DevCertKeyFile)); err == nil {
		t.Errorf("LoadCertPool(key file) = nil error; want no certificate found")
	}
}

func TestServerTLSConfig(t *testing.T) {
	cert, _, err := DevCertificate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := ServerTLSConfig(cert)
	if want := []string{"h2", "http/1.1"}; !slices.Equal(c.NextProtos, want) {
		t.Errorf("ServerTLSConfig NextProtos = %q; want %q", c.NextProtos, want)
	}
	if len(c.Certificates) != 1 || c.MinVersion < tls.VersionTLS12 {
		t.Errorf("ServerTLSConfig = %d certs, min version %x; want 1, >= TLS 1.2", len(c.Certificates), c.MinVersion)
	}
}

// Processes (here goroutines, each with its own lock file handle) starting
// together on one directory end up with certificates the stored CA signs.
func TestDevCertificateConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 4
	certs := make([]tls.Certificate, n)
	errs := make([]error, n)
	done := make(chan int, n)
	for i := range n {
		go func() {
			certs[i], _, errs[i] = DevCertificate(dir, nil)
			done <- i
		}()
	}
	for range n {
		<-done
	}
	pool, err := LoadCertPool(filepath.Join(dir, DevCAFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("DevCertificate #%d: %v", i, errs[i])
		}
		verifyHosts(t, certs[i], pool, time.Now(), "127.0.0.1")
	}
}
