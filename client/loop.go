package client

import "sync"

// loop is the runner of the real client: one goroutine runs the posted
// functions in order; spawned work runs in goroutines of its own.
type loop struct {
	mu     sync.Mutex // guards queue and closed
	queue  []func()
	closed bool

	wake chan struct{}
	done chan struct{} // closed when the loop goroutine returns
	exit bool          // set by the final function; loop goroutine only
}

var _ runner = (*loop)(nil)

func newLoop() *loop {
	l := &loop{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.runLoop()
	return l
}

func (l *loop) post(f func()) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, f)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

func (l *loop) call(f func()) bool {
	ran := make(chan struct{})
	if !l.post(func() { f(); close(ran) }) {
		return false
	}
	select {
	case <-ran:
		return true
	case <-l.done:
		return false
	}
}

func (l *loop) spawn(f func()) { go f() }

func (l *loop) watch(ch <-chan struct{}, f func()) {
	go func() {
		select {
		case <-ch:
			l.post(f)
		case <-l.done:
		}
	}()
}

func (l *loop) close(final func()) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return
	}
	l.queue = append(l.queue, func() { final(); l.exit = true })
	l.closed = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-l.done
}

func (l *loop) runLoop() {
	defer close(l.done)
	for range l.wake {
		l.mu.Lock()
		q := l.queue
		l.queue = nil
		l.mu.Unlock()
		for _, f := range q {
			f()
			if l.exit {
				return
			}
		}
	}
}
