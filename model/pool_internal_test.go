package model

import (
	"hash/maphash"
	"slices"
	"testing"
)

// A hash hit is a duplicate only when the bits are equal: a vector whose
// hash another vector took first is still new, and then known.
func TestDistinctVecsCompareTheBitsOnAHashHit(t *testing.T) {
	a, other := []float32{1, 2}, []float32{3, 4}
	d := &distinctVecs{first: map[uint64][]float32{}}
	d.first[maphash.Bytes(vecSeed, vecBytes(a))] = other // as a collision would leave it
	if !d.add(slices.Clone(a)) {
		t.Fatal("a is new: its hash belongs to other bits")
	}
	if d.add(slices.Clone(a)) {
		t.Fatal("a was added: a second copy is not new")
	}
	if len(d.more) != 1 {
		t.Fatalf("%d vectors past the collision, want 1", len(d.more))
	}
}
