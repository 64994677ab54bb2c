package origin

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/protocol"
)

// get performs method on url with headers and returns the response and its
// whole body.
func get(t *testing.T, c *http.Client, method, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, body
}

func TestFetchChunkEveryProtocol(t *testing.T) {
	o := startOrigin(t, nil)
	data, c := putRandom(t, o.store, 40000)
	url := o.url + protocol.PathChunkBase + c.String()
	altSvc := fmt.Sprintf(`h3=":%d"; ma=86400`, o.port)
	for _, cc := range clientCases {
		t.Run(cc.name, func(t *testing.T) {
			resp, body := get(t, o.client(t, cc), http.MethodGet, url, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s status = %d; want 200", url, resp.StatusCode)
			}
			if resp.Proto != cc.proto {
				t.Errorf("GET %s Proto = %q; want %q", url, resp.Proto, cc.proto)
			}
			if !bytes.Equal(body, data) {
				t.Errorf("GET %s body = %d bytes that differ from the %d put", url, len(body), len(data))
			}
			if !catalog.VerifyCID(c, body) {
				t.Errorf("GET %s body does not hash to its CID", url)
			}
			for k, want := range map[string]string{
				"Content-Type":   ChunkContentType,
				"Cache-Control":  ChunkCacheControl,
				"Etag":           `"` + c.String() + `"`,
				"Content-Length": fmt.Sprint(len(data)),
				"Last-Modified":  "",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("GET %s header %s = %q; want %q", url, k, got, want)
				}
			}
			wantAlt := altSvc
			if cc.name == "h3" {
				wantAlt = ""
			}
			if got := resp.Header.Get("Alt-Svc"); got != wantAlt {
				t.Errorf("GET %s Alt-Svc = %q; want %q", url, got, wantAlt)
			}
		})
	}
}

func TestFetchChunkRanges(t *testing.T) {
	o := startOrigin(t, nil)
	const n = 3000
	data, c := putRandom(t, o.store, n)
	url := o.url + protocol.PathChunkBase + c.String()
	tests := []struct {
		rng          string
		status       int
		body         []byte
		contentRange string
	}{
		{"bytes=100-199", http.StatusPartialContent, data[100:200], "bytes 100-199/3000"},
		{"bytes=-500", http.StatusPartialContent, data[n-500:], "bytes 2500-2999/3000"},
		{"bytes=1000-", http.StatusPartialContent, data[1000:], "bytes 1000-2999/3000"},
		{"bytes=2990-5000", http.StatusPartialContent, data[2990:], "bytes 2990-2999/3000"},
		{"bytes=0-0", http.StatusPartialContent, data[:1], "bytes 0-0/3000"},
		{"bytes=3000-", http.StatusRequestedRangeNotSatisfiable, nil, "bytes */3000"},
		{"bytes=5000-6000", http.StatusRequestedRangeNotSatisfiable, nil, "bytes */3000"},
	}
	for _, cc := range clientCases {
		t.Run(cc.name, func(t *testing.T) {
			client := o.client(t, cc)
			for _, tt := range tests {
				resp, body := get(t, client, http.MethodGet, url, map[string]string{"Range": tt.rng})
				if resp.StatusCode != tt.status {
					t.Errorf("GET Range %q status = %d; want %d", tt.rng, resp.StatusCode, tt.status)
					continue
				}
				if got := resp.Header.Get("Content-Range"); got != tt.contentRange {
					t.Errorf("GET Range %q Content-Range = %q; want %q", tt.rng, got, tt.contentRange)
				}
				if tt.body != nil && !bytes.Equal(body, tt.body) {
					t.Errorf("GET Range %q body = %d bytes; want the %d bytes of the range", tt.rng, len(body), len(tt.body))
				}
				if resp.Proto != cc.proto {
					t.Errorf("GET Range %q Proto = %q; want %q", tt.rng, resp.Proto, cc.proto)
				}
			}
		})
	}
}

func TestFetchChunkConditionalAndHead(t *testing.T) {
	o := startOrigin(t, nil)
	data, c := putRandom(t, o.store, 1234)
	url := o.url + protocol.PathChunkBase + c.String()
	etag := `"` + c.String() + `"`
	for _, cc := range clientCases {
		t.Run(cc.name, func(t *testing.T) {
			client := o.client(t, cc)
			tests := []struct {
				method string
				inm    string
				status int
				body   []byte
			}{
				{http.MethodGet, etag, http.StatusNotModified, nil},
				{http.MethodGet, `W/` + etag, http.StatusNotModified, nil},
				{http.MethodGet, `"other", ` + etag, http.StatusNotModified, nil},
				{http.MethodGet, "*", http.StatusNotModified, nil},
				{http.MethodGet, `"other"`, http.StatusOK, data},
				{http.MethodHead, "", http.StatusOK, nil},
				{http.MethodHead, etag, http.StatusNotModified, nil},
			}
			for _, tt := range tests {
				hdr := map[string]string{}
				if tt.inm != "" {
					hdr["If-None-Match"] = tt.inm
				}
				resp, body := get(t, client, tt.method, url, hdr)
				if resp.StatusCode != tt.status {
					t.Errorf("%s If-None-Match %q status = %d; want %d", tt.method, tt.inm, resp.StatusCode, tt.status)
				}
				if !bytes.Equal(body, tt.body) {
					t.Errorf("%s If-None-Match %q body = %d bytes; want %d", tt.method, tt.inm, len(body), len(tt.body))
				}
				if got := resp.Header.Get("Etag"); got != etag {
					t.Errorf("%s If-None-Match %q ETag = %q; want %q", tt.method, tt.inm, got, etag)
				}
				if tt.method == http.MethodHead && tt.status == http.StatusOK && resp.ContentLength != int64(len(data)) {
					t.Errorf("HEAD Content-Length = %d; want %d", resp.ContentLength, len(data))
				}
			}
		})
	}
}

func TestChunkErrors(t *testing.T) {
	o := startOrigin(t, nil)
	unknown := catalog.ChunkCID([]byte("nobody stored this"))
	tests := []struct {
		name   string
		method string
		path   string
		status int
		code   string
	}{
		{"garbage CID", http.MethodGet, "/chunks/not-a-cid", http.StatusBadRequest, protocol.CodeBadRequest},
		{"empty CID", http.MethodGet, "/chunks/", http.StatusBadRequest, protocol.CodeBadRequest},
		{"CIDv0", http.MethodGet, "/chunks/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", http.StatusBadRequest, protocol.CodeBadRequest},
		{"nested", http.MethodGet, "/chunks/" + unknown.String() + "/x", http.StatusBadRequest, protocol.CodeBadRequest},
		{"too long", http.MethodGet, "/chunks/b" + strings.Repeat("a", 300), http.StatusBadRequest, protocol.CodeBadRequest},
		{"unknown", http.MethodGet, "/chunks/" + unknown.String(), http.StatusNotFound, protocol.CodeNotFound},
		{"unknown HEAD", http.MethodHead, "/chunks/" + unknown.String(), http.StatusNotFound, ""},
		{"POST", http.MethodPost, "/chunks/" + unknown.String(), http.StatusMethodNotAllowed, protocol.CodeBadRequest},
		{"DELETE", http.MethodDelete, "/chunks/" + unknown.String(), http.StatusMethodNotAllowed, protocol.CodeBadRequest},
		{"other path", http.MethodGet, "/v1/nothing", http.StatusNotFound, protocol.CodeNotFound},
	}
	for _, cc := range clientCases[:2] {
		client := o.client(t, cc)
		for _, tt := range tests {
			t.Run(cc.name+"/"+tt.name, func(t *testing.T) {
				resp, body := get(t, client, tt.method, o.url+tt.path, nil)
				if resp.StatusCode != tt.status {
					t.Fatalf("%s %s status = %d; want %d (body %q)", tt.method, tt.path, resp.StatusCode, tt.status, body)
				}
				if got := resp.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("%s %s Cache-Control = %q; want no-store", tt.method, tt.path, got)
				}
				if tt.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
					t.Errorf("%s %s Allow = %q; want %q", tt.method, tt.path, resp.Header.Get("Allow"), "GET, HEAD")
				}
				if tt.code == "" {
					return
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("%s %s Content-Type = %q; want application/json", tt.method, tt.path, ct)
				}
				var perr protocol.Error
				if err := json.Unmarshal(body, &perr); err != nil {
					t.Fatalf("%s %s body %q: %v", tt.method, tt.path, body, err)
				}
				if perr.Code != tt.code || perr.Error == "" {
					t.Errorf("%s %s error = %+v; want code %q and a message", tt.method, tt.path, perr, tt.code)
				}
			})
		}
	}
}

func TestExtraHandlerAndHealth(t *testing.T) {
	extra := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "extra:"+r.URL.Path)
	})
	o := startOrigin(t, func(opts *Options) { opts.Extra = extra })
	client := o.client(t, clientCases[1])
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/v1/tracks", http.StatusOK, "extra:/v1/tracks"},
		{"/", http.StatusOK, "extra:/"},
		{"/healthz", http.StatusOK, "ok"},
		{"/chunks/nope", http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		resp, body := get(t, client, http.MethodGet, o.url+tt.path, nil)
		if resp.StatusCode != tt.status {
			t.Errorf("GET %s status = %d; want %d", tt.path, resp.StatusCode, tt.status)
		}
		if tt.body != "" && string(body) != tt.body {
			t.Errorf("GET %s body = %q; want %q", tt.path, body, tt.body)
		}
	}
}

// counterValue sums the counter name over the series whose labels include
// every pair in want.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m.GetLabel(), want) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func labelsMatch(got []*dto.LabelPair, want map[string]string) bool {
	n := 0
	for _, lp := range got {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

func TestMetrics(t *testing.T) {
	o := startOrigin(t, nil)
	data, c := putRandom(t, o.store, 5000)
	url := o.url + protocol.PathChunkBase + c.String()
	for _, cc := range clientCases {
		client := o.client(t, cc)
		get(t, client, http.MethodGet, url, nil)
		get(t, client, http.MethodGet, url, nil)
		get(t, client, http.MethodGet, o.url+"/chunks/bad", nil)
	}
	reg := o.srv.Registry()
	for _, proto := range []string{"h1", "h2", "h3"} {
		if got := counterValue(t, reg, "chorus_origin_requests_total", map[string]string{"proto": proto, "route": "chunks", "code": "200"}); got != 2 {
			t.Errorf("requests{proto=%s,code=200} = %v; want 2", proto, got)
		}
		if got := counterValue(t, reg, "chorus_origin_requests_total", map[string]string{"proto": proto, "route": "chunks", "code": "400"}); got != 1 {
			t.Errorf("requests{proto=%s,code=400} = %v; want 1", proto, got)
		}
		if got := counterValue(t, reg, "chorus_origin_response_bytes_total", map[string]string{"proto": proto, "route": "chunks"}); got < float64(2*len(data)) {
			t.Errorf("bytes{proto=%s} = %v; want at least %d", proto, got, 2*len(data))
		}
	}
	resp, body := get(t, o.client(t, clientCases[0]), http.MethodGet, o.url+"/metrics", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`chorus_origin_requests_total{code="200",proto="h3",route="chunks"} 2`)) {
		t.Errorf("GET /metrics = %d, body without the h3 chunk counter:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{`chorus_origin_request_duration_seconds_count{proto="h3",route="chunks"} 3`, "go_goroutines ", "process_cpu_seconds_total "} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
}

// Two servers on one registry share their counters instead of failing.
func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	store, err := OpenDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := DevCertificate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := New(Options{Store: store, TLS: ServerTLSConfig(cert), Registry: reg}); err != nil {
			t.Fatalf("New #%d with shared registry = %v", i, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	store, err := OpenDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := DevCertificate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
	}{
		{"no store", Options{TLS: ServerTLSConfig(cert)}},
		{"no TLS", Options{Store: store}},
		{"TLS without cert", Options{Store: store, TLS: ServerTLSConfig(cert)}},
		{"negative timeout", Options{Store: store, TLS: ServerTLSConfig(cert), ShutdownTimeout: -time.Second}},
	}
	tests[2].opts.TLS.Certificates = nil
	for _, tt := range tests {
		if _, err := New(tt.opts); !errors.Is(err, ErrBadOptions) {
			t.Errorf("New(%s) = %v; want ErrBadOptions", tt.name, err)
		}
	}
}

// Serve returns nil after its context ends, with idle connections of every
// protocol open, and closes its sockets.
func TestServeGracefulShutdown(t *testing.T) {
	o := startOrigin(t, nil)
	_, c := putRandom(t, o.store, 100)
	for _, cc := range clientCases {
		get(t, o.client(t, cc), http.MethodGet, o.url+"/chunks/"+c.String(), nil)
	}
	if err := o.stop(); err != nil {
		t.Fatalf("Serve after cancel = %v; want nil", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", o.port)
	if conn, err := net.DialTimeout("tcp", addr, waitLimit); err == nil {
		conn.Close()
		t.Errorf("dial %s after Serve returned: connected; want refused", addr)
	}
	// The UDP port is free again: bind it.
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Errorf("bind udp %s after Serve returned: %v; want free", addr, err)
	} else {
		udp.Close()
	}
}

// A request in flight when the context ends still completes.
func TestServeLetsRequestsFinish(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	extra := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	o := startOrigin(t, func(opts *Options) { opts.Extra = extra; opts.ShutdownTimeout = waitLimit })
	client := o.client(t, clientCases[0])
	type result struct {
		body []byte
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client.Get(o.url + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{b, err}
	}()
	<-started
	o.cancel()
	close(release)
	r := <-res
	if r.err != nil || string(r.body) != "finished" {
		t.Errorf("in-flight GET across shutdown = %q, %v; want %q", r.body, r.err, "finished")
	}
	if err := o.stop(); err != nil {
		t.Errorf("Serve = %v; want nil", err)
	}
}

func TestServeNeedsASocket(t *testing.T) {
	o := startOrigin(t, nil)
	if err := o.srv.Serve(context.Background(), nil, nil); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Serve(nil, nil) = %v; want ErrBadOptions", err)
	}
}

func TestListenSamePort(t *testing.T) {
	for range 3 {
		l, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		udpPort := l.UDP.LocalAddr().(*net.UDPAddr).Port
		if udpPort != l.Port() || l.Port() == 0 {
			t.Errorf("Listen ports: tcp %d, udp %d; want equal and nonzero", l.Port(), udpPort)
		}
		if want := fmt.Sprintf("https://127.0.0.1:%d", l.Port()); l.URL() != want {
			t.Errorf("URL() = %q; want %q", l.URL(), want)
		}
		l.Close()
	}
	if _, err := Listen("no-port"); err == nil {
		t.Errorf("Listen(%q) = nil error", "no-port")
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, "https://127.0.0.1:1"},
		{&net.TCPAddr{IP: net.IPv6zero, Port: 2}, "https://127.0.0.1:2"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 3}, "https://127.0.0.1:3"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 4}, "https://[::1]:4"},
	}
	for _, tt := range tests {
		if got := baseURL(tt.addr); got != tt.want {
			t.Errorf("baseURL(%v) = %q; want %q", tt.addr, got, tt.want)
		}
	}
}

func TestServerURL(t *testing.T) {
	o := startOrigin(t, nil)
	// Serve sets the URL before it starts serving; a successful request
	// proves Serve has begun.
	get(t, o.client(t, clientCases[1]), http.MethodGet, o.url+"/healthz", nil)
	if got := o.srv.URL(); got != o.url {
		t.Errorf("Server.URL() = %q; want %q", got, o.url)
	}
}

// newTestServer builds a Server on a fresh store without starting it.
func newTestServer(t *testing.T) (*Server, *DirStore, *x509.CertPool) {
	t.Helper()
	store, err := OpenDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, roots, err := DevCertificate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Store: store, TLS: ServerTLSConfig(cert)})
	if err != nil {
		t.Fatal(err)
	}
	return srv, store, roots
}

// Serve works with only one of its sockets; TCP alone offers no Alt-Svc.
func TestServeOneSocket(t *testing.T) {
	tests := []struct {
		name string
		udp  bool
		cc   clientCase
	}{
		{"tcp only", false, clientCases[1]},
		{"udp only", true, clientCases[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, store, roots := newTestServer(t)
			data, c := putRandom(t, store, 500)
			l, err := Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var udp net.PacketConn
			var tcp net.Listener
			if tt.udp {
				udp = l.UDP
				l.TCP.Close()
			} else {
				tcp = l.TCP
				l.UDP.Close()
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, udp, tcp) }()
			client := tt.cc.make(roots)
			defer CloseClient(client)
			resp, body := get(t, client, http.MethodGet, l.URL()+"/chunks/"+c.String(), nil)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) || resp.Proto != tt.cc.proto {
				t.Errorf("GET = %d, %s, %d bytes; want 200, %s, %d bytes", resp.StatusCode, resp.Proto, len(body), tt.cc.proto, len(data))
			}
			if got := resp.Header.Get("Alt-Svc"); got != "" {
				t.Errorf("Alt-Svc = %q; want none", got)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve = %v; want nil", err)
				}
			case <-time.After(waitLimit):
				t.Fatal("Serve did not return after cancel")
			}
		})
	}
}

// When one side fails on its own, Serve stops the other and reports it.
func TestServeReportsFailure(t *testing.T) {
	srv, _, _ := newTestServer(t)
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.TCP.Close() // ServeTLS fails at once on a closed listener
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), l.UDP, l.TCP) }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("Serve(closed tcp listener) = nil; want an error")
		}
	case <-time.After(waitLimit):
		t.Fatal("Serve did not return after its TCP side failed")
	}
}
