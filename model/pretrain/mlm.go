package pretrain

import (
	"fmt"
	"math/rand/v2"

	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// mlm is BERT with the masked-language-modelling head of BertForMaskedLM
// (Devlin et al., 2019), variables named as Hugging Face names them:
//
//	ids ─▶ Bert ─▶ hidden [B,T,H] ─▶ gather masked positions [N,H]
//	    ─▶ transform: dense H→H, GELU, LayerNorm ─▶ [N,H]
//	    ─▶ decoder: · word_embeddingsᵀ (tied) + bias ─▶ logits [N,V]
type mlm struct {
	bert             *encoder.Bert
	denseW, denseB   *ts.Tensor // [H,H], [H]   cls.predictions.transform.dense
	normW, normB     *ts.Tensor // [H], [H]     cls.predictions.transform.LayerNorm
	decBias          *ts.Tensor // [V]          cls.predictions.bias
	eps              float64
	hiddenDim, vocab int64
}

func newMLM(root *nn.Path, cfg encoder.BertConfig) *mlm {
	h, v := int64(cfg.HiddenSize), int64(cfg.VocabSize)
	p := root.Sub("cls").Sub("predictions")
	tr := p.Sub("transform")
	return &mlm{
		bert:      encoder.NewBert(root, cfg),
		denseW:    tr.Sub("dense").MustNewVar("weight", []int64{h, h}, nn.NewRandnInit(0, cfg.InitializerRange)),
		denseB:    tr.Sub("dense").MustNewVar("bias", []int64{h}, nn.NewConstInit(0)),
		normW:     tr.Sub("LayerNorm").MustNewVar("weight", []int64{h}, nn.NewConstInit(1)),
		normB:     tr.Sub("LayerNorm").MustNewVar("bias", []int64{h}, nn.NewConstInit(0)),
		decBias:   p.MustNewVar("bias", []int64{v}, nn.NewConstInit(0)),
		eps:       cfg.LayerNormEps,
		hiddenDim: h,
		vocab:     v,
	}
}

// batch is one masked batch, ready for the model.
type batch struct {
	ids, mask *ts.Tensor // [B,T] int64: input ids (masked), 1 on real tokens
	pos       *ts.Tensor // [N] int64: flat positions b*T+t of the masked tokens
	target    *ts.Tensor // [N] int64: their original ids
	tokens    int        // real (non-pad) tokens, for throughput
}

func (b *batch) drop() {
	for _, t := range []*ts.Tensor{b.ids, b.mask, b.pos, b.target} {
		t.MustDrop()
	}
}

// loss is the mean cross-entropy of the masked tokens; a scalar tensor the
// caller owns.
func (m *mlm) loss(b *batch, train bool) *ts.Tensor {
	hidden := m.bert.Forward(b.ids, b.mask, train) // [B,T,H]
	flat := hidden.MustView([]int64{-1, m.hiddenDim}, true)
	x := flat.MustIndexSelect(0, b.pos, true) // [N,H]
	x = ts.MustLinear(x, m.denseW, m.denseB).MustGelu("none", true)
	y := ts.MustLayerNorm(x, []int64{m.hiddenDim}, m.normW, m.normB, m.eps, false) // [N,H]
	x.MustDrop()
	logits := ts.MustLinear(y, m.bert.WordEmbeddings(), m.decBias) // [N,V]: tied decoder
	y.MustDrop()
	loss := logits.CrossEntropyForLogits(b.target)
	logits.MustDrop()
	return loss
}

// masker applies BERT's masking: each real token (not [CLS]/[SEP]) is chosen
// with probability p (at least one per line); a chosen token becomes [MASK]
// 80% of the time, a random ordinary token 10%, and stays 10%.
type masker struct {
	p                 float64
	maskID, firstReal int64 // ids below firstReal are specials, never drawn
	vocab             int64
	padID             int64
}

// make pads seqs (each [CLS] ... [SEP]) to the longest and masks them.
func (mk masker) make(seqs [][]int64, rng *rand.Rand) (*batch, error) {
	T := 0
	for _, s := range seqs {
		T = max(T, len(s))
	}
	B := len(seqs)
	ids := make([]int64, B*T)
	mask := make([]int64, B*T)
	var pos, target []int64
	tokens := 0
	for b, s := range seqs {
		row := ids[b*T : (b+1)*T]
		for t := range row {
			row[t] = mk.padID
		}
		copy(row, s)
		tokens += len(s)
		for t := range s {
			mask[b*T+t] = 1
		}
		chosen := 0
		for t := 1; t < len(s)-1; t++ {
			if rng.Float64() < mk.p {
				chosen++
				pos, target = mk.choose(row, b*T, t, pos, target, rng)
			}
		}
		if chosen == 0 && len(s) > 2 {
			t := 1 + rng.IntN(len(s)-2)
			pos, target = mk.choose(row, b*T, t, pos, target, rng)
		}
	}
	if len(pos) == 0 {
		return nil, fmt.Errorf("batch of %d lines has no maskable token", B)
	}
	return &batch{
		ids:    ts.MustOfSlice(ids).MustView([]int64{int64(B), int64(T)}, true),
		mask:   ts.MustOfSlice(mask).MustView([]int64{int64(B), int64(T)}, true),
		pos:    ts.MustOfSlice(pos),
		target: ts.MustOfSlice(target),
		tokens: tokens,
	}, nil
}

func (mk masker) choose(row []int64, off, t int, pos, target []int64, rng *rand.Rand) ([]int64, []int64) {
	pos = append(pos, int64(off+t))
	target = append(target, row[t])
	switch r := rng.Float64(); {
	case r < 0.8:
		row[t] = mk.maskID
	case r < 0.9:
		row[t] = mk.firstReal + rng.Int64N(mk.vocab-mk.firstReal)
	}
	return pos, target
}
