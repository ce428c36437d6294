package encoder

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Pooling names how hidden states become one vector per line.
type Pooling string

const (
	// PoolMean averages the hidden states of real tokens ([CLS] and [SEP]
	// included, padding excluded), as sentence-transformers does.
	PoolMean Pooling = "mean"
	// PoolCLS takes the hidden state of [CLS] (CoorLog's choice for a
	// fine-tuned BERT).
	PoolCLS Pooling = "cls"
)

// ParsePooling accepts "mean", "cls" and "" (mean).
func ParsePooling(s string) (Pooling, error) {
	switch Pooling(s) {
	case "", PoolMean:
		return PoolMean, nil
	case PoolCLS:
		return PoolCLS, nil
	}
	return "", fmt.Errorf("pooling %q: want \"mean\" or \"cls\"", s)
}

// Pool reduces hidden states [B,T,H] to [B,H]. mask is [B,T] (1 real, 0
// padding, any numeric dtype). The inputs are kept; the caller owns the
// result.
func Pool(hidden, mask *ts.Tensor, p Pooling) *ts.Tensor {
	if p == PoolCLS {
		return hidden.MustSelect(1, 0, false) // [B,H]
	}
	m := mask.MustTotype(gotch.Float, false).MustUnsqueeze(-1, true)                        // [B,T,1]
	sum := hidden.MustMul(m, false).MustSumDimIntlist([]int64{1}, false, gotch.Float, true) // [B,H]
	cnt := m.MustSumDimIntlist([]int64{1}, false, gotch.Float, true)                        // [B,1]
	out := sum.MustDiv(cnt, true)                                                           // [B,H]
	cnt.MustDrop()
	return out
}
