package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/origin"
)

// fileStore serves chunk files from a directory, named by CID.
type fileStore string

func (d fileStore) Open(c cid.Cid) (*os.File, os.FileInfo, error) {
	f, err := os.Open(filepath.Join(string(d), c.String()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s", origin.ErrNotFound, c)
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// startOrigin runs a real origin on loopback (HTTP/3 and HTTPS) with a dev
// certificate, serving one chunk; stop ends it.
func startOrigin(t *testing.T) (url string, chunk cid.Cid, stop func(), clients func(proto string) *http.Client) {
	t.Helper()
	dir := t.TempDir()
	cert, caPool, err := origin.DevCertificate(filepath.Join(dir, "tls"), nil)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("sixteen bytes!!!")
	chunk = catalog.ChunkCID(data)
	if err := os.WriteFile(filepath.Join(dir, chunk.String()), data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := origin.New(origin.Options{Store: fileStore(dir), TLS: origin.ServerTLSConfig(cert)})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := origin.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url = "https://" + ls.TCP.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ls.UDP, ls.TCP) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("origin Serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	clients = func(proto string) *http.Client {
		var hc *http.Client
		switch proto {
		case "h3":
			hc = origin.NewHTTP3Client(caPool)
		case "h3-untrusted":
			hc = origin.NewHTTP3Client(nil)
		case "h2":
			hc = origin.NewHTTP2Client(caPool)
		case "h2-untrusted":
			hc = origin.NewHTTP2Client(nil)
		}
		t.Cleanup(func() { origin.CloseClient(hc) })
		return hc
	}
	return url, chunk, stop, clients
}

// TestOriginFetchClassifiesFailures: against a real origin over HTTP/3 and
// HTTPS, an untrusted certificate, a missing chunk and a stopped origin each
// give a FetchError with the scheduler's reason and the sentinel that says
// what to do, found with errors.Is through quic-go and net/http.
func TestOriginFetchClassifiesFailures(t *testing.T) {
	url, chunk, stop, clients := startOrigin(t)
	missing := catalog.ChunkCID([]byte("not there"))
	fetch := func(proto string, c cid.Cid) error {
		t.Helper()
		src, err := NewOriginSource(url, clients(proto))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err = src.Fetch(ctx, c)
		return err
	}
	reason := func(err error) sched.FailReason {
		var fe *FetchError
		if !errors.As(err, &fe) {
			t.Fatalf("error %v is not a *FetchError", err)
		}
		return fe.Reason
	}
	for _, proto := range []string{"h3", "h2"} {
		if err := fetch(proto, chunk); err != nil {
			t.Fatalf("%s: Fetch of a held chunk: %v", proto, err)
		}
		err := fetch(proto+"-untrusted", chunk)
		t.Logf("%s, CA not given: %v", proto, err)
		if !errors.Is(err, ErrUntrustedOrigin) || reason(err) != sched.FailGone {
			t.Errorf("%s without the CA: Fetch = %v; want ErrUntrustedOrigin, gone", proto, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--origin-ca") {
			t.Errorf("%s without the CA: message %q does not name --origin-ca", proto, err)
		}
		err = fetch(proto, missing)
		if !errors.Is(err, ErrNotFound) || reason(err) != sched.FailDontHave {
			t.Errorf("%s: Fetch of a missing chunk = %v; want ErrNotFound, dont-have", proto, err)
		}
	}
	stop()
	for _, proto := range []string{"h3", "h2"} {
		err := fetch(proto, chunk)
		t.Logf("%s, origin stopped: %v", proto, err)
		if !errors.Is(err, ErrOriginUnreachable) || errors.Is(err, ErrUntrustedOrigin) {
			t.Errorf("%s: Fetch from a stopped origin = %v; want ErrOriginUnreachable", proto, err)
		}
		if err != nil && !strings.Contains(err.Error(), url) {
			t.Errorf("%s: message %q does not name the origin %s", proto, err, url)
		}
	}
}

// TestTrackerUnreachable: a tracker that is not listening gives
// ErrTrackerUnreachable with its address.
func TestTrackerUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // a port that was open, now closed
	tr, err := NewTracker(TrackerOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = tr.Login(ctx, "alice", "password")
	if !errors.Is(err, ErrTrackerUnreachable) || !strings.Contains(err.Error(), url) {
		t.Errorf("Login() to a stopped tracker = %v; want ErrTrackerUnreachable naming %s", err, url)
	}
}
