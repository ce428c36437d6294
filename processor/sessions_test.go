package processor

import "testing"

// The open set keeps sessions by key, oldest activity first, and the bytes
// they buffer; closing one removes it from all three.
func TestOpenSessions(t *testing.T) {
	o := newOpenSessions()
	if o.oldest() != nil || o.len() != 0 {
		t.Fatal("new set not empty")
	}
	a := o.open(sessKey{key: "a"}, "a")
	b := o.open(sessKey{key: "b"}, "b")
	fb := o.open(sessKey{fallback: true, res: 7}, "fallback-7")
	o.grew(a, 100)
	o.grew(b, 10)
	o.grew(a, 5)
	if o.len() != 3 || o.bytes != 115 || a.bytes != 105 {
		t.Fatalf("len %d bytes %d a.bytes %d", o.len(), o.bytes, a.bytes)
	}
	if o.use(sessKey{key: "c"}) != nil || o.use(sessKey{key: "7"}) != nil {
		t.Fatal("found a session never opened (a key must not collide with a resource's fallback session)")
	}
	// Using a session makes it the most recent: the order is now b, fallback, a.
	if o.use(sessKey{key: "b"}) != b || o.use(sessKey{fallback: true, res: 7}) != fb || o.use(sessKey{key: "a"}) != a {
		t.Fatal("lookup by key")
	}
	var order []string
	for _, k := range o.order.Keys() {
		s, _ := o.order.Peek(k)
		order = append(order, s.id)
	}
	if len(order) != 3 || order[0] != "b" || order[1] != "fallback-7" || order[2] != "a" || o.oldest() != b {
		t.Fatalf("order %q", order)
	}
	if got := o.close(o.oldest(), CloseEvicted); got != b || got.reason != CloseEvicted {
		t.Fatalf("closed %+v", got)
	}
	if o.len() != 2 || o.bytes != 105 || o.use(sessKey{key: "b"}) != nil || o.oldest() != fb {
		t.Fatalf("after close: len %d bytes %d", o.len(), o.bytes)
	}
	o.close(a, CloseMaxRecords)
	o.close(fb, CloseShutdown)
	if o.len() != 0 || o.bytes != 0 || o.oldest() != nil {
		t.Fatalf("emptied: len %d bytes %d", o.len(), o.bytes)
	}
}
