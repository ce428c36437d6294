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
	if o.get(sessKey{key: "b"}) != b || o.get(sessKey{fallback: true, res: 7}) != fb || o.get(sessKey{key: "c"}) != nil {
		t.Fatal("lookup by key")
	}
	if o.get(sessKey{key: "7"}) != nil {
		t.Fatal("a key and a resource's fallback session must not collide")
	}
	o.touch(a) // order now b, fb, a
	var order []string
	for s := o.oldest(); s != nil; s = s.next {
		order = append(order, s.id)
	}
	if len(order) != 3 || order[0] != "b" || order[1] != "fallback-7" || order[2] != "a" {
		t.Fatalf("order %q", order)
	}
	if got := o.close(o.oldest(), CloseEvicted); got != b || got.reason != CloseEvicted {
		t.Fatalf("closed %+v", got)
	}
	if o.len() != 2 || o.bytes != 105 || o.get(sessKey{key: "b"}) != nil || o.oldest() != fb {
		t.Fatalf("after close: len %d bytes %d", o.len(), o.bytes)
	}
	o.close(a, CloseMaxRecords)
	o.close(fb, CloseShutdown)
	if o.len() != 0 || o.bytes != 0 || o.oldest() != nil || o.order.tail != nil {
		t.Fatalf("emptied: len %d bytes %d", o.len(), o.bytes)
	}
}
