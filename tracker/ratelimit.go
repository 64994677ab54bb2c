package tracker

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// RateLimit is a token bucket: Burst failed logins at once, then one more
// every Every. Zero fields take the defaults (Burst 5, Every 12 s: five
// failures a minute, sustained).
type RateLimit struct {
	Burst int
	Every time.Duration
}

func (l RateLimit) withDefaults() RateLimit {
	if l.Burst == 0 {
		l.Burst = 5
	}
	if l.Every == 0 {
		l.Every = 12 * time.Second
	}
	return l
}

func (l RateLimit) validate() error {
	if l.Burst < 1 || l.Burst > 1_000_000 || l.Every < time.Millisecond {
		return fmt.Errorf("%w: login limit %+v", ErrOptions, l)
	}
	return nil
}

// maxBuckets bounds the limiter's memory: beyond it, full (idle) buckets
// are swept on insert.
const maxBuckets = 100_000

// limiter keeps one token bucket per key ("acct:<name>", "addr:<ip>") on an
// injected clock. Every attempt takes a token up front and a successful one
// gives it back, so only failures count, yet parallel attempts cannot all
// slip past an almost empty bucket. An attempt is refused while a bucket is
// empty, and a refused attempt takes nothing, so a client that waits
// Retry-After gets one more try.
type limiter struct {
	limit RateLimit

	mu      sync.Mutex // guards buckets
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

func newLimiter(l RateLimit) *limiter {
	return &limiter{limit: l, buckets: make(map[string]*bucket)}
}

// refillLocked brings b up to date at now.
func (l *limiter) refillLocked(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = math.Min(float64(l.limit.Burst), b.tokens+float64(el)/float64(l.limit.Every))
		b.at = now
	}
}

// take takes a token from every key's bucket and returns zero, or, when
// any bucket is empty, takes nothing and returns how long until all have a
// token again.
func (l *limiter) take(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	for _, k := range keys {
		b, ok := l.buckets[k]
		if !ok {
			continue
		}
		l.refillLocked(b, now)
		if b.tokens < 1 {
			longest = max(longest, time.Duration((1-b.tokens)*float64(l.limit.Every)))
		}
	}
	if longest > 0 {
		return max(longest, time.Second)
	}
	for _, k := range keys {
		b, ok := l.buckets[k]
		if !ok {
			if len(l.buckets) >= maxBuckets {
				l.sweepLocked(now)
			}
			b = &bucket{tokens: float64(l.limit.Burst), at: now}
			l.buckets[k] = b
		}
		b.tokens--
	}
	return 0
}

// refund gives back the tokens a successful attempt took.
func (l *limiter) refund(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if b, ok := l.buckets[k]; ok {
			l.refillLocked(b, now)
			b.tokens = math.Min(float64(l.limit.Burst), b.tokens+1)
		}
	}
}

// sweepLocked drops buckets that have refilled completely: they hold no
// state a new bucket would not.
func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		l.refillLocked(b, now)
		if b.tokens >= float64(l.limit.Burst) {
			delete(l.buckets, k)
		}
	}
}
