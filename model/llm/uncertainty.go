package llm

import (
	"math"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// Uncertainty is the AD agent's similarity-weighted uncertainty over the
// neighbours' labels:
//
//	w_i = max(sim_i, 0)                 (all w_i = 1 if every sim_i <= 0)
//	p   = Σ w_i·y_i / Σ w_i             (y_i = 1 abnormal, 0 normal)
//	U   = H2(p) = −p·log2 p − (1−p)·log2(1−p)   with H2(0) = H2(1) = 0
//
// U is 0 when all weight lies on one label and 1 when the weight is split
// evenly; U > Config.UncertaintyThreshold selects the uncertain prompt.
// With no neighbours U = 1 and p = 0.5. Labels other than 0 count as
// abnormal.
func Uncertainty(neighbours []core.Neighbour) (u, pAbnormal float64) {
	if len(neighbours) == 0 {
		return 1, 0.5
	}
	var sum, abn float64
	for _, n := range neighbours {
		w := n.Similarity
		if !(w > 0) { // also drops NaN
			w = 0
		}
		sum += w
		if n.Label != 0 {
			abn += w
		}
	}
	if sum == 0 || math.IsInf(sum, 0) {
		sum, abn = 0, 0
		for _, n := range neighbours {
			sum++
			if n.Label != 0 {
				abn++
			}
		}
	}
	p := abn / sum
	return binaryEntropy(p), p
}

func binaryEntropy(p float64) float64 {
	if p <= 0 || p >= 1 {
		return 0
	}
	return -p*math.Log2(p) - (1-p)*math.Log2(1-p)
}
