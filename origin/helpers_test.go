package origin

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
)

// waitLimit bounds every wait in these tests; it is far beyond what any
// step needs on a busy machine.
const waitLimit = 60 * time.Second

// testOrigin is a Server on real loopback sockets.
type testOrigin struct {
	store  *DirStore
	srv    *Server
	url    string
	port   int
	roots  *x509.CertPool
	cancel context.CancelFunc
	done   chan error
}

// startOrigin serves a fresh store on 127.0.0.1 and stops it at cleanup.
// tweak, if not nil, edits the Options before New.
func startOrigin(tb testing.TB, tweak func(*Options)) *testOrigin {
	tb.Helper()
	store, err := OpenDirStore(tb.TempDir())
	if err != nil {
		tb.Fatalf("OpenDirStore: %v", err)
	}
	cert, roots, err := DevCertificate(tb.TempDir(), nil)
	if err != nil {
		tb.Fatalf("DevCertificate: %v", err)
	}
	opts := Options{Store: store, TLS: ServerTLSConfig(cert)}
	if tweak != nil {
		tweak(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &testOrigin{store: store, srv: srv, url: l.URL(), port: l.Port(), roots: roots, cancel: cancel, done: make(chan error, 1)}
	go func() { o.done <- srv.Serve(ctx, l.UDP, l.TCP) }()
	tb.Cleanup(func() {
		if err := o.stop(); err != nil {
			tb.Errorf("Serve = %v; want nil", err)
		}
	})
	return o
}

// stop cancels Serve and returns its result; later calls return nil.
func (o *testOrigin) stop() error {
	if o.done == nil {
		return nil
	}
	o.cancel()
	defer func() { o.done = nil }()
	select {
	case err := <-o.done:
		return err
	case <-time.After(waitLimit):
		return errors.New("Serve did not return after cancel")
	}
}

// putRandom stores a random chunk of n bytes and returns it and its CID.
func putRandom(tb testing.TB, s *DirStore, n int) ([]byte, cid.Cid) {
	tb.Helper()
	data := make([]byte, n)
	rand.Read(data)
	c := catalog.ChunkCID(data)
	if err := s.Put(context.Background(), c, data); err != nil {
		tb.Fatalf("Put(%s): %v", c, err)
	}
	return data, c
}

// clientCase is one way to reach an origin.
type clientCase struct {
	name  string
	proto string // resp.Proto we expect
	make  func(*x509.CertPool) *http.Client
}

var clientCases = []clientCase{
	{"h3", "HTTP/3.0", NewHTTP3Client},
	{"h2", "HTTP/2.0", NewHTTP2Client},
	{"h1", "HTTP/1.1", NewHTTP1Client},
}

// client builds a client of kind cc for o, closed at cleanup.
func (o *testOrigin) client(tb testing.TB, cc clientCase) *http.Client {
	c := cc.make(o.roots)
	tb.Cleanup(func() { CloseClient(c) })
	return c
}
