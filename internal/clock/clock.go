package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and arms timers.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed. Stop on the
	// returned Timer cancels it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a cancellable timer from a Clock.
type Timer interface {
	// Stop cancels the timer; it reports whether it stopped it before it fired.
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Or returns c, or Real when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Fake is a manually advanced clock for tests. Timers fire synchronously,
// in deadline order, inside Advance.
type Fake struct {
	mu     sync.Mutex // guards the fields below
	now    time.Time
	seq    int
	timers []*fakeTimer
}

// NewFake returns a Fake clock set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// AfterFunc arms a timer that fires when Advance passes now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	t := &fakeTimer{clock: f, when: f.now.Add(d), fn: fn, seq: f.seq}
	f.timers = append(f.timers, t)
	return t
}

// Advance moves the clock forward by d, firing every timer that comes due,
// each in order and with the clock set to its deadline.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	end := f.now.Add(d)
	for {
		sort.Slice(f.timers, func(i, j int) bool {
			if !f.timers[i].when.Equal(f.timers[j].when) {
				return f.timers[i].when.Before(f.timers[j].when)
			}
			return f.timers[i].seq < f.timers[j].seq
		})
		if len(f.timers) == 0 || f.timers[0].when.After(end) {
			break
		}
		t := f.timers[0]
		f.timers = f.timers[1:]
		f.now = t.when
		f.mu.Unlock()
		t.fn()
		f.mu.Lock()
	}
	f.now = end
	f.mu.Unlock()
}

// Pending reports how many timers are armed.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

type fakeTimer struct {
	clock *Fake
	when  time.Time
	fn    func()
	seq   int
}

func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, o := range f.timers {
		if o == t {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			return true
		}
	}
	return false
}
