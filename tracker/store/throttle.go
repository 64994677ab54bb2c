package store

import (
	"fmt"
	"time"
)

// CheckCharges validates a ChargeThrottle or RefundThrottle argument:
// every key named, once, with 0 < Cost <= Limit.
func CheckCharges(cs []ThrottleCharge) error {
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		if c.Key == "" || c.Cost <= 0 || c.Limit < c.Cost || seen[c.Key] {
			return fmt.Errorf("%w: throttle charge %+v (empty or repeated key, or not 0 < cost <= limit)", ErrInvalid, c)
		}
		seen[c.Key] = true
	}
	return nil
}

// PlanCharge is ChargeThrottle's arithmetic, shared by the backends:
// given each key's ClearAt (absent: no debt), it returns the new ClearAt
// of every charged key, or ok false and the instant the charge would be
// accepted.
func PlanCharge(now time.Time, clearAt map[string]time.Time, cs []ThrottleCharge) (next map[string]time.Time, retryAt time.Time, ok bool) {
	next = make(map[string]time.Time, len(cs))
	ok = true
	for _, c := range cs {
		from := now
		if t, has := clearAt[c.Key]; has && t.After(now) {
			from = t
		}
		after := from.Add(c.Cost)
		if after.Sub(now) > c.Limit {
			ok = false
			if at := from.Add(c.Cost - c.Limit); at.After(retryAt) {
				retryAt = at
			}
		}
		next[c.Key] = after
	}
	if !ok {
		return nil, retryAt, false
	}
	return next, time.Time{}, true
}

// PlanRefund is RefundThrottle's arithmetic: each key's ClearAt less its
// Cost, never before now; keys without debt are left out.
func PlanRefund(now time.Time, clearAt map[string]time.Time, cs []ThrottleCharge) map[string]time.Time {
	next := make(map[string]time.Time, len(cs))
	for _, c := range cs {
		t, has := clearAt[c.Key]
		if !has || !t.After(now) {
			continue
		}
		t = t.Add(-c.Cost)
		if t.Before(now) {
			t = now
		}
		next[c.Key] = t
	}
	return next
}
