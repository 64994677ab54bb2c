package cache

import "container/list"

// Policy decides which entry to evict. It only tracks keys and sizes: it
// holds no data and does no I/O, so it can run in memory in a simulator.
// Keys are opaque strings (Cache uses cid.Cid.KeyString). A Policy is not
// safe for concurrent use; its owner serialises calls.
type Policy interface {
	// Add inserts key as the most recently used entry. Adding a key already
	// present updates its size and counts as a use.
	Add(key string, size int64)
	// Touch records a use of key. It is a no-op for an absent key.
	Touch(key string)
	// Remove forgets key. It is a no-op for an absent key.
	Remove(key string)
	// Victim returns the entry to evict next without removing it; ok is
	// false when the policy is empty.
	Victim() (key string, ok bool)
	// Len returns the number of entries.
	Len() int
	// Bytes returns the sum of the entries' sizes.
	Bytes() int64
}

var _ Policy = (*LRU)(nil)

// LRU is a least-recently-used Policy. The zero value is not usable; call
// NewLRU.
type LRU struct {
	ll    *list.List // front is most recently used; values are *lruEntry
	items map[string]*list.Element
	bytes int64
}

type lruEntry struct {
	key  string
	size int64
}

// NewLRU returns an empty LRU policy.
func NewLRU() *LRU {
	return &LRU{ll: list.New(), items: make(map[string]*list.Element)}
}

// Add implements Policy.
func (l *LRU) Add(key string, size int64) {
	if e, ok := l.items[key]; ok {
		ent := e.Value.(*lruEntry)
		l.bytes += size - ent.size
		ent.size = size
		l.ll.MoveToFront(e)
		return
	}
	l.items[key] = l.ll.PushFront(&lruEntry{key: key, size: size})
	l.bytes += size
}

// Touch implements Policy.
func (l *LRU) Touch(key string) {
	if e, ok := l.items[key]; ok {
		l.ll.MoveToFront(e)
	}
}

// Remove implements Policy.
func (l *LRU) Remove(key string) {
	e, ok := l.items[key]
	if !ok {
		return
	}
	l.bytes -= e.Value.(*lruEntry).size
	l.ll.Remove(e)
	delete(l.items, key)
}

// Victim implements Policy: the least recently used entry.
func (l *LRU) Victim() (string, bool) {
	e := l.ll.Back()
	if e == nil {
		return "", false
	}
	return e.Value.(*lruEntry).key, true
}

// Len implements Policy.
func (l *LRU) Len() int { return l.ll.Len() }

// Bytes implements Policy.
func (l *LRU) Bytes() int64 { return l.bytes }

// Keys returns the keys from least to most recently used.
func (l *LRU) Keys() []string {
	out := make([]string, 0, l.ll.Len())
	for e := l.ll.Back(); e != nil; e = e.Prev() {
		out = append(out, e.Value.(*lruEntry).key)
	}
	return out
}
