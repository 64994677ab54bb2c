package tracker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/chorus-music/chorus/tracker/store"
)

// LoginPolicy is how failed logins are throttled (README: "Login
// throttling"). A "network" is the client's IPv4 address or IPv6 /64 (see
// Options.TrustedProxies for where the address comes from). Each limit
// allows Burst failures at once and one more every Every after that; the
// state lives in the store, so every tracker on one database enforces the
// same limits. Zero fields take the defaults.
type LoginPolicy struct {
	// Pair limits failures for one account from one network (default 5,
	// then one a minute). It is the limit a user who forgot their password
	// meets; it never refuses that account anywhere else, nor other
	// accounts from that network.
	PairBurst int
	PairEvery time.Duration
	// Network limits failures from one network over all accounts (default
	// 30, then one every 10 s): password spraying from one place.
	NetworkBurst int
	NetworkEvery time.Duration
	// Account limits repeated failures on one account over all networks
	// (default 100, then one every 36 s): guessing spread over many
	// networks. It is charged to, and refuses, only networks that have
	// failed on this account recently (whose Pair limit holds a debt), so
	// it never refuses a network that has not failed on the account: the
	// account's owner elsewhere still logs in while it is attacked.
	AccountBurst int
	AccountEvery time.Duration
	// AttemptRate and AttemptBurst limit all login attempts, right or
	// wrong, per network in this process (default 10 a second, bursts of
	// 50), with golang.org/x/time/rate: a guard on the argon2 work one
	// network can ask of a tracker, not a security limit (each tracker
	// counts alone).
	AttemptRate  rate.Limit
	AttemptBurst int
}

func (p LoginPolicy) withDefaults() LoginPolicy {
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&p.PairBurst, 5)
	defDur(&p.PairEvery, time.Minute)
	defInt(&p.NetworkBurst, 30)
	defDur(&p.NetworkEvery, 10*time.Second)
	defInt(&p.AccountBurst, 100)
	defDur(&p.AccountEvery, 36*time.Second)
	if p.AttemptRate == 0 {
		p.AttemptRate = 10
	}
	defInt(&p.AttemptBurst, 50)
	return p
}

func (p LoginPolicy) validate() error {
	for _, l := range []struct {
		name  string
		burst int
		every time.Duration
	}{{"Pair", p.PairBurst, p.PairEvery}, {"Network", p.NetworkBurst, p.NetworkEvery}, {"Account", p.AccountBurst, p.AccountEvery}} {
		if l.burst < 1 || l.burst > 1_000_000 || l.every < time.Millisecond || l.every > 24*time.Hour {
			return fmt.Errorf("%w: login policy %s: burst %d, every %v (want 1..1000000 and 1ms..24h)", ErrOptions, l.name, l.burst, l.every)
		}
	}
	if p.AttemptRate <= 0 || p.AttemptBurst < 1 {
		return fmt.Errorf("%w: login policy attempt rate %v, burst %d (want both > 0)", ErrOptions, p.AttemptRate, p.AttemptBurst)
	}
	return nil
}

func charge(key string, burst int, every time.Duration) store.ThrottleCharge {
	return store.ThrottleCharge{Key: key, Cost: every, Limit: time.Duration(burst) * every}
}

// Throttle keys in the store.
func pairKey(account, network string) string { return "login/pair/" + network + "/" + account }
func networkKey(network string) string       { return "login/net/" + network }
func accountKey(account string) string       { return "login/acct/" + account }

// loginCharges are the throttle charges of one login attempt: always the
// pair and the network; the account as well when this network has failed
// on this account recently.
func (s *Server) loginCharges(ctx context.Context, now time.Time, account, network string) ([]store.ThrottleCharge, error) {
	p := s.opts.LoginPolicy
	pk := pairKey(account, network)
	cs := []store.ThrottleCharge{
		charge(pk, p.PairBurst, p.PairEvery),
		charge(networkKey(network), p.NetworkBurst, p.NetworkEvery),
	}
	debts, err := s.store.Throttles(ctx, now, []string{pk})
	if err != nil {
		return nil, err
	}
	if _, failed := debts[pk]; failed {
		cs = append(cs, charge(accountKey(account), p.AccountBurst, p.AccountEvery))
	}
	return cs, nil
}

// successRefund is what a successful login gives back: its own charge to
// the network and the account, and the whole pair debt (the user got the
// password right; their earlier typos no longer count).
func successRefund(cs []store.ThrottleCharge) []store.ThrottleCharge {
	out := make([]store.ThrottleCharge, len(cs))
	copy(out, cs)
	out[0].Cost = out[0].Limit
	return out
}

// maxAttemptLimiters bounds the attempt limiters' memory: beyond it, full
// (idle) limiters are swept on insert.
const maxAttemptLimiters = 100_000

// attemptLimiter keeps a rate.Limiter per network for all login attempts.
type attemptLimiter struct {
	rate  rate.Limit
	burst int

	mu sync.Mutex // guards lims
	// lims are the networks' limiters; a full one is the same as none.
	lims map[string]*rate.Limiter
}

func newAttemptLimiter(p LoginPolicy) *attemptLimiter {
	return &attemptLimiter{rate: p.AttemptRate, burst: p.AttemptBurst, lims: make(map[string]*rate.Limiter)}
}

// allow takes one attempt for network at now, or reports how long until
// one is available.
func (a *attemptLimiter) allow(now time.Time, network string) (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.lims[network]
	if !ok {
		if len(a.lims) >= maxAttemptLimiters {
			for k, old := range a.lims {
				if old.TokensAt(now) >= float64(a.burst) {
					delete(a.lims, k)
				}
			}
		}
		l = rate.NewLimiter(a.rate, a.burst)
		a.lims[network] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}
