package tracker

import (
	"errors"
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

func TestLimiter(t *testing.T) {
	l := newLimiter(RateLimit{Burst: 3, Every: 10 * time.Second})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if w := l.take(t0, "a"); w != 0 {
			t.Fatalf("take %d = %v; want 0", i, w)
		}
	}
	if w := l.take(t0, "a"); w != 10*time.Second {
		t.Fatalf("take on empty bucket = %v; want 10s", w)
	}
	if w := l.take(t0, "b"); w != 0 {
		t.Fatalf("take on another key = %v; want 0", w)
	}
	if w := l.take(t0.Add(4*time.Second), "a", "b"); w != 6*time.Second {
		t.Fatalf("take(a, b) at +4s = %v; want 6s", w)
	}
	// A refused take took nothing from b.
	l.refund(t0, "b")
	if w := l.take(t0.Add(10*time.Second), "a"); w != 0 {
		t.Fatalf("take at +10s = %v; want 0", w)
	}
	l.refund(t0.Add(10*time.Second), "a")
	if w := l.take(t0.Add(10*time.Second), "a"); w != 0 {
		t.Fatalf("take after refund = %v; want 0", w)
	}
	// Buckets never exceed Burst.
	late := t0.Add(time.Hour)
	for i := range 3 {
		if w := l.take(late, "a"); w != 0 {
			t.Fatalf("take %d after an hour = %v; want 0", i, w)
		}
	}
	if w := l.take(late, "a"); w == 0 {
		t.Fatalf("4th take after an hour = 0; want a wait (burst 3)")
	}
}

func TestLimiterSweep(t *testing.T) {
	l := newLimiter(RateLimit{Burst: 1, Every: time.Second})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.take(t0, "old")
	l.mu.Lock()
	l.sweepLocked(t0.Add(time.Minute))
	n := len(l.buckets)
	l.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d buckets after sweeping refilled ones; want 0", n)
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
