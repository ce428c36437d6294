package pretrain

import (
	"math/rand/v2"

	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Contrastive stage (unsupervised SimCSE, Gao et al., 2021, with a deletion
// augmentation): after MLM, the sentence vector that inference uses
// (masked-mean pooling) is trained directly. Each line is encoded twice, once
// as is and once with a few tokens deleted, both with dropout on; the two
// views of a line must be nearer each other than to any other line of the
// batch (InfoNCE over cosine similarities / temperature, both directions).
// This spreads MLM's anisotropic vectors (all lines at cosine ~0.99) and
// teaches invariance to small rewordings, which is what a new software
// version does to a template.
//
//	view a ─▶ Bert ─▶ mean-pool ─▶ L2-normalise ─▶ za [B,H]
//	view b ─▶ Bert ─▶ mean-pool ─▶ L2-normalise ─▶ zb [B,H]
//	logits = za·zbᵀ / τ [B,B];  loss = (CE(logits, diag) + CE(logitsᵀ, diag)) / 2

// pairBatch is a batch of two views of the same lines.
type pairBatch struct {
	aIDs, aMask, bIDs, bMask *ts.Tensor // [B,Ta], [B,Tb]
	target                   *ts.Tensor // [B]: row i matches column i
	tokens                   int
}

func (p *pairBatch) drop() {
	for _, t := range []*ts.Tensor{p.aIDs, p.aMask, p.bIDs, p.bMask, p.target} {
		t.MustDrop()
	}
}

// makePairs builds the two views; the second deletes each inner token with
// probability del (keeping at least one).
func makePairs(seqs [][]int64, del float64, padID int64, rng *rand.Rand) *pairBatch {
	b := make([][]int64, len(seqs))
	for i, s := range seqs {
		kept := []int64{s[0]}
		for _, id := range s[1 : len(s)-1] {
			if rng.Float64() >= del {
				kept = append(kept, id)
			}
		}
		if len(kept) == 1 { // everything deleted: keep the first real token
			kept = append(kept, s[1])
		}
		b[i] = append(kept, s[len(s)-1])
	}
	aIDs, aMask, na := pad(seqs, padID)
	bIDs, bMask, nb := pad(b, padID)
	target := make([]int64, len(seqs))
	for i := range target {
		target[i] = int64(i)
	}
	return &pairBatch{aIDs: aIDs, aMask: aMask, bIDs: bIDs, bMask: bMask, target: ts.MustOfSlice(target), tokens: na + nb}
}

func pad(seqs [][]int64, padID int64) (ids, mask *ts.Tensor, tokens int) {
	T := 0
	for _, s := range seqs {
		T = max(T, len(s))
	}
	B := len(seqs)
	flat := make([]int64, B*T)
	m := make([]int64, B*T)
	for i, s := range seqs {
		for t := 0; t < T; t++ {
			if t < len(s) {
				flat[i*T+t], m[i*T+t] = s[t], 1
			} else {
				flat[i*T+t] = padID
			}
		}
		tokens += len(s)
	}
	shape := []int64{int64(B), int64(T)}
	return ts.MustOfSlice(flat).MustView(shape, true), ts.MustOfSlice(m).MustView(shape, true), tokens
}

// sentence is the inference-time line vector, L2-normalised: [B,H].
func (m *mlm) sentence(ids, mask *ts.Tensor, train bool) *ts.Tensor {
	h := m.bert.Forward(ids, mask, train)        // [B,T,H]
	v := encoder.Pool(h, mask, encoder.PoolMean) // [B,H]
	h.MustDrop()
	sq := v.MustMul(v, false).MustSumDimIntlist([]int64{1}, true, gotch.Float, true) // [B,1]
	n := sq.MustClampMin(ts.FloatScalar(1e-12), true).MustSqrt(true)                 // [B,1]
	z := v.MustDiv(n, true)                                                          // [B,H]
	n.MustDrop()
	return z
}

// contrastiveLoss is the symmetric InfoNCE loss of a pair batch at
// temperature tau; a scalar tensor the caller owns.
func (m *mlm) contrastiveLoss(p *pairBatch, tau float64, train bool) *ts.Tensor {
	za := m.sentence(p.aIDs, p.aMask, train)                                      // [B,H]
	zb := m.sentence(p.bIDs, p.bMask, train)                                      // [B,H]
	zbT := zb.MustT(true)                                                         // [H,B]
	logits := za.MustMatmul(zbT, true).MustMulScalar(ts.FloatScalar(1/tau), true) // [B,B]
	zbT.MustDrop()
	l1 := logits.CrossEntropyForLogits(p.target)
	lt := logits.MustT(true)
	l2 := lt.CrossEntropyForLogits(p.target)
	lt.MustDrop()
	return l1.MustAdd(l2, true).MustMulScalar(ts.FloatScalar(0.5), true)
}
