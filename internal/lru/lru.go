// Package lru is the project's one least-recently-used list: a map into a
// doubly linked list, most recently used first. It serves the embedding cache
// (bounded, per shard), the cascade's recent sessions for operator feedback
// (bounded), and the stream processor's open sessions (unbounded: the
// processor evicts the oldest itself, under its own caps). Not safe for
// concurrent use: every user holds its own lock.
package lru

// List maps keys to values in order of use.
type List[K comparable, V any] struct {
	m          map[K]*node[K, V]
	head, tail *node[K, V] // most and least recently used
	cap        int
}

type node[K comparable, V any] struct {
	key        K
	val        V
	prev, next *node[K, V]
}

// New returns an empty list that holds at most capacity entries; capacity <= 0
// is unbounded.
func New[K comparable, V any](capacity int) *List[K, V] {
	return &List[K, V]{m: map[K]*node[K, V]{}, cap: capacity}
}

// Cap is the most entries the list holds; 0 when unbounded.
func (l *List[K, V]) Cap() int { return max(l.cap, 0) }

// Len is the number of entries.
func (l *List[K, V]) Len() int { return len(l.m) }

// Get returns the value of k and marks it most recently used.
func (l *List[K, V]) Get(k K) (V, bool) {
	n, ok := l.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	l.toFront(n)
	return n.val, true
}

// Peek returns the value of k without marking it used.
func (l *List[K, V]) Peek(k K) (V, bool) {
	n, ok := l.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	return n.val, true
}

// Put sets the value of k, most recently used. When that takes a bounded list
// past its capacity, the least recently used entry leaves and is returned.
func (l *List[K, V]) Put(k K, v V) (evictedKey K, evicted V, ok bool) {
	if n, found := l.m[k]; found {
		n.val = v
		l.toFront(n)
		return evictedKey, evicted, false
	}
	n := &node[K, V]{key: k, val: v}
	l.m[k] = n
	l.pushFront(n)
	if l.cap > 0 && len(l.m) > l.cap {
		old := l.tail
		l.unlink(old)
		delete(l.m, old.key)
		return old.key, old.val, true
	}
	return evictedKey, evicted, false
}

// Remove deletes k and returns its value.
func (l *List[K, V]) Remove(k K) (V, bool) {
	n, ok := l.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	l.unlink(n)
	delete(l.m, k)
	return n.val, true
}

// Oldest is the least recently used entry.
func (l *List[K, V]) Oldest() (K, V, bool) {
	if l.tail == nil {
		var k K
		var v V
		return k, v, false
	}
	return l.tail.key, l.tail.val, true
}

// Keys returns the keys, least recently used first.
func (l *List[K, V]) Keys() []K {
	out := make([]K, 0, len(l.m))
	for n := l.tail; n != nil; n = n.prev {
		out = append(out, n.key)
	}
	return out
}

func (l *List[K, V]) toFront(n *node[K, V]) {
	if l.head == n {
		return
	}
	l.unlink(n)
	l.pushFront(n)
}

func (l *List[K, V]) pushFront(n *node[K, V]) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
}

func (l *List[K, V]) unlink(n *node[K, V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
}
