package tracker

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var cheap = Argon2Params{Time: 1, MemoryK: 64, Threads: 1}

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := hashPassword("hunter2 hunter2", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hashPassword = %q; want PHC argon2id with m=64,t=1,p=1", h)
	}
	h2, _ := hashPassword("hunter2 hunter2", cheap)
	if h == h2 {
		t.Fatalf("two hashes of one password are equal; want distinct salts")
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{"hunter2 hunter2", true},
		{"hunter2 hunter3", false},
		{"", false},
		{"hunter2 hunter2 ", false},
	}
	for _, tc := range tests {
		if ok, err := checkPassword(h, tc.pw); err != nil || ok != tc.want {
			t.Errorf("checkPassword(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
}

func TestParseHashRejects(t *testing.T) {
	good, _ := hashPassword("x", cheap)
	parts := strings.Split(good, "$")
	bad := []string{
		"", "$", "plain", "$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=16$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=4294967295,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=0,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=0$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1000,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$",
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5] + "$x",
	}
	for _, b := range bad {
		if _, err := parseHash(b); !errors.Is(err, ErrBadHash) {
			t.Errorf("parseHash(%q) = %v; want ErrBadHash", b, err)
		}
	}
}

func FuzzParseHash(f *testing.F) {
	good, _ := hashPassword("x", cheap)
	f.Add(good)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=99999999999,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		ph, err := parseHash(s)
		if err != nil {
			return
		}
		// Whatever parses is within bounds a login can afford.
		if ph.params.MemoryK > maxArgonMemoryK || ph.params.Time > maxArgonTime || ph.params.Threads > maxArgonThreads {
			t.Fatalf("parseHash(%q) accepted params %+v", s, ph.params)
		}
	})
}

func TestAttemptLimiter(t *testing.T) {
	a := newAttemptLimiter(LoginPolicy{AttemptRate: 1, AttemptBurst: 3})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if _, ok := a.allow(t0, "n1"); !ok {
			t.Fatalf("attempt %d refused; want allowed (burst 3)", i)
		}
	}
	if wait, ok := a.allow(t0, "n1"); ok || wait != time.Second {
		t.Fatalf("4th attempt = %v, %v; want refused for 1s", wait, ok)
	}
	if _, ok := a.allow(t0, "n2"); !ok {
		t.Fatal("another network refused")
	}
	// A refused attempt took nothing: one second later one is there.
	if _, ok := a.allow(t0.Add(time.Second), "n1"); !ok {
		t.Fatal("attempt after 1s refused")
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	s := &Server{opts: Options{TrustedProxies: proxies}}
	tests := []struct {
		remote string
		xff    []string
		want   string
		via    bool
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1", false},
		{"192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1", false}, // untrusted peer: header ignored
		{"10.1.2.3:5000", []string{"198.51.100.7"}, "198.51.100.7", true},
		{"10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7", true},            // the client's own forgery is left of it
		{"10.1.2.3:5000", []string{"198.51.100.7, 10.9.9.9"}, "198.51.100.7", true},           // two trusted hops
		{"10.1.2.3:5000", []string{"6.6.6.6", "198.51.100.7,10.9.9.9"}, "198.51.100.7", true}, // repeated headers
		{"10.1.2.3:5000", []string{"garbage, 10.9.9.9"}, "10.9.9.9", true},                    // stops at an unparsable entry
		{"10.1.2.3:5000", []string{"garbage"}, "10.1.2.3", false},
		{"10.1.2.3:5000", nil, "10.1.2.3", false},
		{"[fd00::1]:443", []string{"2001:db8::5"}, "2001:db8::5", true},
		{"[::ffff:10.1.2.3]:443", []string{"::ffff:198.51.100.7"}, "198.51.100.7", true},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		got, via := s.clientAddr(r)
		if got.String() != tc.want || (via != "") != tc.via {
			t.Errorf("clientAddr(%s, XFF %q) = %v via %q; want %s (via proxy: %v)", tc.remote, tc.xff, got, via, tc.want, tc.via)
		}
	}
}

func TestNetworkOf(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
	}
	for _, tc := range tests {
		a := netip.MustParseAddr(tc.addr).Unmap()
		if got := networkOf(a, true); got != tc.want {
			t.Errorf("networkOf(%s) = %s; want %s", tc.addr, got, tc.want)
		}
	}
	if got := networkOf(netip.Addr{}, false); got != "unknown" {
		t.Errorf("networkOf(invalid) = %s; want unknown", got)
	}
}

func TestCheckAccountName(t *testing.T) {
	for _, ok := range []string{"a", "A1", "alice.b", "x_y-z", strings.Repeat("z", 64)} {
		if err := checkAccountName(ok); err != nil {
			t.Errorf("checkAccountName(%q) = %v; want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".a", "_a", "a b", "a/b", "é", "a\x00", strings.Repeat("z", 65)} {
		if err := checkAccountName(bad); !errors.Is(err, ErrAccountName) {
			t.Errorf("checkAccountName(%q) = %v; want ErrAccountName", bad, err)
		}
	}
}

// FuzzClientAddr: any remote address and X-Forwarded-For value gives a
// client address without panicking; behind no trusted proxy it is always
// the peer's; and it is never a trusted proxy unless the whole chain is.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.1.2.3:5000", "198.51.100.7")
	f.Add("10.1.2.3:5000", "6.6.6.6, 198.51.100.7, 10.9.9.9")
	f.Add("[fd00::1]:443", "2001:db8::5,garbage")
	f.Add("192.0.2.1:1", "10.0.0.1")
	f.Add("nonsense", ",,, ,")
	f.Add("[::ffff:10.1.2.3]:443", "::ffff:198.51.100.7%eth0")
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	trusting := &Server{opts: Options{TrustedProxies: proxies}}
	plain := &Server{}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		peer, peerOK := addrOf(remote)
		if got, via := plain.clientAddr(r); got != peer || via != "" {
			t.Fatalf("untrusting clientAddr(%q, %q) = %v via %q; want the peer %v", remote, xff, got, via, peer)
		}
		got, via := trusting.clientAddr(r)
		if via == "" && got != peer {
			t.Fatalf("clientAddr(%q, %q) = %v without via; want the peer %v", remote, xff, got, peer)
		}
		if via != "" && (!peerOK || !trusting.trusted(peer)) {
			t.Fatalf("clientAddr(%q, %q) read the header from an untrusted peer", remote, xff)
		}
		_ = networkOf(got, got.IsValid())
	})
}
