package tracker_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

const wrong = "wrong password"

// wantCode sends a login and checks its status.
func wantCode(t *testing.T, h *trackertest.Harness, remote, user, pw string, header http.Header, want int) *http.Response {
	t.Helper()
	rec := login(h, remote, user, pw, header)
	if rec.Code != want {
		t.Fatalf("login %s from %s (XFF %q) = %d; want %d", user, remote, header.Get("X-Forwarded-For"), rec.Code, want)
	}
	return rec.Result()
}

func retryAfter(t *testing.T, resp *http.Response) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("Retry-After = %q; want whole seconds >= 1", resp.Header.Get("Retry-After"))
	}
	return time.Duration(n) * time.Second
}

// TestLoginPairLimit: five failures for one account from one address
// throttle that account from that address only, for a minute per further
// try; a correct login clears the count.
func TestLoginPairLimit(t *testing.T) {
	h, clk := fakeHarness(t)
	h.CreateUser(t, "alice", trackertest.DefaultPassword)
	h.CreateUser(t, "bob", trackertest.DefaultPassword)
	for range 5 {
		wantCode(t, h, "192.0.2.1:5000", "alice", wrong, nil, http.StatusUnauthorized)
	}
	resp := wantCode(t, h, "192.0.2.1:5000", "alice", trackertest.DefaultPassword, nil, http.StatusTooManyRequests)
	if d := retryAfter(t, resp); d != time.Minute {
		t.Fatalf("Retry-After = %v; want 1m (one more try a minute)", d)
	}
	var perr protocol.Error
	if err := decodeBody(resp.Body, &perr); err != nil || perr.Code != protocol.CodeRateLimited {
		t.Fatalf("429 body = %+v, %v; want code rate_limited", perr, err)
	}
	// The same account from elsewhere, and another account from here: fine.
	wantCode(t, h, "192.0.2.2:5000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
	wantCode(t, h, "192.0.2.1:5000", "bob", trackertest.DefaultPassword, nil, http.StatusOK)
	// After Retry-After one more try; a correct one clears the count.
	clk.Advance(time.Minute)
	wantCode(t, h, "192.0.2.1:5000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
	for range 5 {
		wantCode(t, h, "192.0.2.1:5000", "alice", wrong, nil, http.StatusUnauthorized)
	}
	wantCode(t, h, "192.0.2.1:5000", "alice", wrong, nil, http.StatusTooManyRequests)
	// Successes never count.
	clk.Advance(time.Hour)
	for range 20 {
		wantCode(t, h, "192.0.2.1:5000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
	}
}

// TestCorrectPasswordAfterOtherAddressesFailures: guesses against alice
// from many addresses, enough to exhaust the account limit, never refuse
// alice's correct password from an address that has not failed on her
// account; the guessing addresses are refused.
func TestCorrectPasswordAfterOtherAddressesFailures(t *testing.T) {
	h, _ := fakeHarness(t, func(o *tracker.Options) {
		o.LoginPolicy = tracker.LoginPolicy{AccountBurst: 4}
	})
	h.CreateUser(t, "alice", trackertest.DefaultPassword)
	// Ten attacker addresses, two guesses each: the first guesses hit the
	// pair limits only; the second ones also the account's, which runs out.
	refused := 0
	for round := range 2 {
		for i := range 10 {
			rec := login(h, fmt.Sprintf("198.51.100.%d:4000", i), "alice", wrong, nil)
			switch {
			case rec.Code == http.StatusTooManyRequests && round == 1:
				refused++
			case rec.Code != http.StatusUnauthorized:
				t.Fatalf("guess %d/%d = %d; want 401 or (second round) 429", round, i, rec.Code)
			}
		}
	}
	if refused != 6 {
		t.Fatalf("%d second guesses refused; want 6 (account burst 4)", refused)
	}
	// A guessing address is refused even with the right password...
	wantCode(t, h, "198.51.100.9:4000", "alice", trackertest.DefaultPassword, nil, http.StatusTooManyRequests)
	// ...but alice from her own address logs in, and again.
	wantCode(t, h, "203.0.113.5:6000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
	wantCode(t, h, "203.0.113.5:6001", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
}

// TestLoginNetworkLimit: spraying many accounts from one address throttles
// that address for every account, and no other.
func TestLoginNetworkLimit(t *testing.T) {
	h, clk := fakeHarness(t, func(o *tracker.Options) { o.LoginPolicy = tracker.LoginPolicy{AttemptBurst: 100} })
	h.CreateUser(t, "victim", trackertest.DefaultPassword)
	for i := range 30 {
		wantCode(t, h, "192.0.2.7:1000", "user"+strconv.Itoa(i), wrong, nil, http.StatusUnauthorized)
	}
	resp := wantCode(t, h, "192.0.2.7:2000", "victim", trackertest.DefaultPassword, nil, http.StatusTooManyRequests)
	if d := retryAfter(t, resp); d != 10*time.Second {
		t.Fatalf("Retry-After = %v; want 10s", d)
	}
	wantCode(t, h, "192.0.2.8:1000", "victim", trackertest.DefaultPassword, nil, http.StatusOK)
	clk.Advance(10 * time.Second)
	wantCode(t, h, "192.0.2.7:2000", "victim", trackertest.DefaultPassword, nil, http.StatusOK)
}

// TestForwardedForUntrusted: with no trusted proxies, X-Forwarded-For is
// ignored: forging it neither escapes the limit nor moves it to another
// address.
func TestForwardedForUntrusted(t *testing.T) {
	h, _ := fakeHarness(t)
	h.CreateUser(t, "alice", trackertest.DefaultPassword)
	for i := range 5 {
		spoof := http.Header{"X-Forwarded-For": {fmt.Sprintf("203.0.113.%d", i)}}
		wantCode(t, h, "192.0.2.1:5000", "alice", wrong, spoof, http.StatusUnauthorized)
	}
	fresh := http.Header{"X-Forwarded-For": {"203.0.113.99"}}
	wantCode(t, h, "192.0.2.1:5000", "alice", trackertest.DefaultPassword, fresh, http.StatusTooManyRequests)
	// Nor did the forged addresses pick up the failures.
	wantCode(t, h, "203.0.113.0:5000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
}

// TestForwardedForTrusted: behind a trusted load balancer every client
// has the balancer's address; the limit follows the address it forwards,
// so one attacker behind it locks out no one else behind it.
func TestForwardedForTrusted(t *testing.T) {
	lb := netip.MustParsePrefix("10.0.0.0/24")
	h, _ := fakeHarness(t, func(o *tracker.Options) {
		o.TrustedProxies = []netip.Prefix{lb}
		o.LoginPolicy = tracker.LoginPolicy{AttemptBurst: 100}
	})
	h.CreateUser(t, "alice", trackertest.DefaultPassword)
	attacker := http.Header{"X-Forwarded-For": {"198.51.100.66"}}
	for i := range 40 {
		rec := login(h, "10.0.0.2:7000", "alice", wrong, attacker)
		if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusTooManyRequests {
			t.Fatalf("attack %d = %d", i, rec.Code)
		}
	}
	wantCode(t, h, "10.0.0.2:7000", "alice", trackertest.DefaultPassword, attacker, http.StatusTooManyRequests)
	// Alice, through the same balancer (even prefixing a forged entry
	// naming the attacker) logs in.
	alice := http.Header{"X-Forwarded-For": {"198.51.100.66, 203.0.113.5"}}
	wantCode(t, h, "10.0.0.3:7000", "alice", trackertest.DefaultPassword, alice, http.StatusOK)
	// The attacker cannot escape by forging an entry: the balancer appends
	// the real address on the right.
	escape := http.Header{"X-Forwarded-For": {"203.0.113.77, 198.51.100.66"}}
	wantCode(t, h, "10.0.0.2:7000", "alice", trackertest.DefaultPassword, escape, http.StatusTooManyRequests)
}

// TestLoginIPv6Slash64: addresses in one IPv6 /64 count as one network;
// another /64 is another network.
func TestLoginIPv6Slash64(t *testing.T) {
	h, _ := fakeHarness(t)
	h.CreateUser(t, "alice", trackertest.DefaultPassword)
	for i := range 5 {
		wantCode(t, h, fmt.Sprintf("[2001:db8:0:1::%x]:5000", i+1), "alice", wrong, nil, http.StatusUnauthorized)
	}
	wantCode(t, h, "[2001:db8:0:1:ffff:ffff:ffff:ffff]:5000", "alice", trackertest.DefaultPassword, nil, http.StatusTooManyRequests)
	wantCode(t, h, "[2001:db8:0:2::1]:5000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
}

// TestLoginAttemptRate: all attempts from one network, right or wrong,
// are capped per process (the argon2 work guard).
func TestLoginAttemptRate(t *testing.T) {
	h, clk := fakeHarness(t, func(o *tracker.Options) {
		o.LoginPolicy = tracker.LoginPolicy{AttemptRate: 1, AttemptBurst: 3}
	})
	h.CreateUser(t, "alice", trackertest.DefaultPassword)
	for range 3 {
		wantCode(t, h, "192.0.2.1:5000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
	}
	resp := wantCode(t, h, "192.0.2.1:5000", "alice", trackertest.DefaultPassword, nil, http.StatusTooManyRequests)
	if d := retryAfter(t, resp); d != time.Second {
		t.Fatalf("Retry-After = %v; want 1s", d)
	}
	wantCode(t, h, "192.0.2.2:5000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
	clk.Advance(time.Second)
	wantCode(t, h, "192.0.2.1:5000", "alice", trackertest.DefaultPassword, nil, http.StatusOK)
}
