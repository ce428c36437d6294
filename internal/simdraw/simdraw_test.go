package simdraw

import (
	"fmt"
	"math"
	"testing"
)

func TestRightIsStableAndHitsTheAccuracy(t *testing.T) {
	for _, acc := range []float64{0, 0.5, 0.95, 1} {
		right := 0
		const n = 20000
		for i := range n {
			key := fmt.Sprintf("content-%d", i)
			r := Right(7, key, acc)
			if r != Right(7, key, acc) {
				t.Fatalf("key %s drew two answers", key)
			}
			if r {
				right++
			}
		}
		if got := float64(right) / n; math.Abs(got-acc) > 0.01 {
			t.Errorf("accuracy %.2f: %.4f right", acc, got)
		}
	}
	// Another seed draws other keys wrong.
	same := 0
	for i := range 1000 {
		key := fmt.Sprint(i)
		if Right(1, key, 0.5) == Right(2, key, 0.5) {
			same++
		}
	}
	if same > 600 || same < 400 {
		t.Fatalf("seeds 1 and 2 agree on %d of 1000 keys at accuracy 0.5", same)
	}
}
