package lru

import (
	"slices"
	"testing"
)

func TestBoundedEvictsLeastRecentlyUsed(t *testing.T) {
	l := New[string, int](2)
	l.Put("a", 1)
	l.Put("b", 2)
	if v, ok := l.Get("a"); !ok || v != 1 { // a is now the most recent
		t.Fatalf("get a: %v %v", v, ok)
	}
	k, v, ev := l.Put("c", 3)
	if !ev || k != "b" || v != 2 {
		t.Fatalf("evicted %q %d %v, want b 2", k, v, ev)
	}
	if _, ok := l.Peek("b"); ok || l.Len() != 2 || l.Cap() != 2 || New[int, int](-3).Cap() != 0 {
		t.Fatalf("b still there, len %d", l.Len())
	}
	if got := l.Keys(); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("keys %q", got)
	}
	// Replacing a value neither grows nor evicts, and makes it the most recent.
	if _, _, ev := l.Put("a", 10); ev {
		t.Fatal("replace evicted")
	}
	if k, v, _ := l.Oldest(); k != "c" || v != 3 {
		t.Fatalf("oldest %q %d", k, v)
	}
	// Peek does not change the order.
	l.Peek("c")
	if k, _, _ := l.Oldest(); k != "c" {
		t.Fatalf("peek moved c")
	}
}

func TestUnboundedAndRemove(t *testing.T) {
	l := New[int, string](0)
	for i := range 100 {
		if _, _, ev := l.Put(i, "x"); ev {
			t.Fatal("unbounded list evicted")
		}
	}
	if v, ok := l.Remove(0); !ok || v != "x" {
		t.Fatal("remove 0")
	}
	if _, ok := l.Remove(0); ok {
		t.Fatal("removed twice")
	}
	for l.Len() > 0 {
		k, _, _ := l.Oldest()
		l.Remove(k)
	}
	if _, _, ok := l.Oldest(); ok || len(l.Keys()) != 0 {
		t.Fatal("not empty")
	}
	if _, ok := l.Get(5); ok {
		t.Fatal("get on empty")
	}
}
