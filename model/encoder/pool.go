package encoder

import (
	"fmt"
	"runtime"

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
	runtime.LockOSThread() // libtorch's last error is per OS thread
	defer runtime.UnlockOSThread()
	out := p.forward(borrow(hidden), borrow(mask)).gotchTensor()
	runtime.KeepAlive(hidden) // borrowed handles: keep their owners alive
	runtime.KeepAlive(mask)
	return out
}

// forward is Pool on bare handles: hidden [B,T,H] and mask [B,T] are kept;
// the result [B,H] is the caller's.
func (p Pooling) forward(hidden, mask tensor) tensor {
	if p == PoolCLS {
		return selectAt(hidden, 1, 0) // [B,H] state of [CLS]
	}
	m := toFloat(mask)                        // [B,T]
	m3 := done(unsqueeze(m, -1), m)           // [B,T,1]
	hm := mul(hidden, m3)                     // [B,T,H] padding zeroed
	sum := done(sumDim(hm, 1), hm)            // [B,H]
	cnt := done(sumDim(m3, 1), m3)            // [B,1] real tokens per row
	tiny := float32Tensor([]float32{1e-9})    // an all-padding row gives 0, not NaN
	cnt = done(maximum(cnt, tiny), cnt, tiny) // [B,1]
	return done(div(sum, cnt), sum, cnt)      // [B,H]
}
