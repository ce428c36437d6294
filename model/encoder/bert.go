package encoder

import (
	"math"
	"strconv"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Bert is the BERT encoder stack (Devlin et al., 2019) exactly as Hugging
// Face's BertModel computes it, without the pooler. Its variables are named
// as in BertModel's state dict (embeddings.word_embeddings.weight,
// encoder.layer.0.attention.self.query.weight, ...), relative to the path
// given to NewBert, so a checkpoint loads by name.
//
// Forward builds an autograd graph when gradients are enabled, so Bert can be
// trained (an MLM head on top of the hidden states); Encoder uses it for
// inference only.
type Bert struct {
	Config BertConfig

	WordEmb, PosEmb, TypeEmb *ts.Tensor // [V,H], [P,H], [2,H]
	EmbNorm                  layerNorm
	Layers                   []*bertLayer

	// Constants made once: gotch scalars are C objects.
	negLarge, one, invSqrtHead *ts.Scalar
}

type bertLayer struct {
	Query, Key, Value linear    // H -> H each
	AttnOut           linear    // H -> H
	AttnNorm          layerNorm // after the attention residual
	Inter             linear    // H -> I
	Out               linear    // I -> H
	OutNorm           layerNorm // after the feed-forward residual
}

// NewBert creates the variables of a BERT encoder under p with Hugging
// Face's initialisation (normal(0, initializer_range) weights, zero biases,
// unit LayerNorm). cfg must be valid (see BertConfig.Validate).
func NewBert(p *nn.Path, cfg BertConfig) *Bert {
	h, i := int64(cfg.HiddenSize), int64(cfg.IntermediateSize)
	std := cfg.InitializerRange
	if std <= 0 {
		std = 0.02
	}
	emb := p.Sub("embeddings")
	b := &Bert{
		Config:      cfg,
		WordEmb:     emb.Sub("word_embeddings").MustNewVar("weight", []int64{int64(cfg.VocabSize), h}, nn.NewRandnInit(0, std)),
		PosEmb:      emb.Sub("position_embeddings").MustNewVar("weight", []int64{int64(cfg.MaxPositionEmbeddings), h}, nn.NewRandnInit(0, std)),
		TypeEmb:     emb.Sub("token_type_embeddings").MustNewVar("weight", []int64{int64(cfg.TypeVocabSize), h}, nn.NewRandnInit(0, std)),
		EmbNorm:     newLayerNorm(emb.Sub("LayerNorm"), h, cfg.LayerNormEps),
		negLarge:    ts.FloatScalar(float64(-math.MaxFloat32)), // HF: torch.finfo(float32).min
		one:         ts.FloatScalar(1),
		invSqrtHead: ts.FloatScalar(1 / math.Sqrt(float64(cfg.HeadDim()))),
	}
	enc := p.Sub("encoder").Sub("layer")
	for l := 0; l < cfg.NumHiddenLayers; l++ {
		lp := enc.Sub(strconv.Itoa(l))
		att := lp.Sub("attention")
		self, out := att.Sub("self"), att.Sub("output")
		b.Layers = append(b.Layers, &bertLayer{
			Query:    newLinear(self.Sub("query"), h, h, std),
			Key:      newLinear(self.Sub("key"), h, h, std),
			Value:    newLinear(self.Sub("value"), h, h, std),
			AttnOut:  newLinear(out.Sub("dense"), h, h, std),
			AttnNorm: newLayerNorm(out.Sub("LayerNorm"), h, cfg.LayerNormEps),
			Inter:    newLinear(lp.Sub("intermediate").Sub("dense"), h, i, std),
			Out:      newLinear(lp.Sub("output").Sub("dense"), i, h, std),
			OutNorm:  newLayerNorm(lp.Sub("output").Sub("LayerNorm"), h, cfg.LayerNormEps),
		})
	}
	return b
}

// Forward runs the encoder. ids are token ids [B,T] (int64, each < vocab
// size, T <= max_position_embeddings); mask is [B,T] with 1 for real tokens
// and 0 for padding (any numeric dtype). It returns the last hidden states
// [B,T,H]; the caller owns them. Dropout is applied only when train is true.
// Every intermediate tensor is freed before returning (autograd keeps what
// backward needs on its own).
func (b *Bert) Forward(ids, mask *ts.Tensor, train bool) *ts.Tensor {
	cfg := b.Config
	size := ids.MustSize()
	B, T := size[0], size[1]
	H, nh, dh := int64(cfg.HiddenSize), int64(cfg.NumAttentionHeads), int64(cfg.HeadDim())

	// Embeddings: word + absolute position + token type 0, then LayerNorm.
	pos := b.PosEmb.MustNarrow(0, 0, T, false)              // [T,H]
	typ := b.TypeEmb.MustSelect(0, 0, false)                // [H]
	x := ts.MustEmbedding(b.WordEmb, ids, -1, false, false) // [B,T,H]
	x = x.MustAdd(pos, true).MustAdd(typ, true)             // [B,T,H]
	x = b.EmbNorm.forward(x, true)                          // [B,T,H]
	x = dropout(x, cfg.HiddenDropoutProb, train)            // [B,T,H]
	pos.MustDrop()
	typ.MustDrop()

	// Additive key mask: 0 on real tokens, float32 min on padding, so that
	// softmax gives padded keys zero weight (HF's extended attention mask).
	m := mask.MustTotype(gotch.Float, false)                              // [B,T]
	bias := m.MustRsubScalar(b.one, true).MustMulScalar(b.negLarge, true) // [B,T] = (1-m)*min
	bias = bias.MustView([]int64{B, 1, 1, T}, true)                       // [B,1,1,T]

	// heads splits [B,T,H] into [B,nh,T,dh]; merge is its inverse.
	heads := func(t *ts.Tensor) *ts.Tensor {
		return t.MustView([]int64{B, T, nh, dh}, true).MustTranspose(1, 2, true) // [B,nh,T,dh]
	}
	merge := func(t *ts.Tensor) *ts.Tensor {
		return t.MustTranspose(1, 2, true).MustContiguous(true).MustView([]int64{B, T, H}, true) // [B,T,H]
	}

	for _, l := range b.Layers {
		// Self-attention.
		q := heads(l.Query.forward(x))                                      // [B,nh,T,dh]
		k := heads(l.Key.forward(x))                                        // [B,nh,T,dh]
		v := heads(l.Value.forward(x))                                      // [B,nh,T,dh]
		kt := k.MustTranspose(2, 3, true)                                   // [B,nh,dh,T]
		scores := q.MustMatmul(kt, true).MustMulScalar(b.invSqrtHead, true) // [B,nh,T,T] = qk^T/sqrt(dh)
		kt.MustDrop()
		scores = scores.MustAdd(bias, true)                          // [B,nh,T,T]
		probs := scores.MustSoftmax(-1, gotch.Float, true)           // [B,nh,T,T] over keys
		probs = dropout(probs, cfg.AttentionProbsDropoutProb, train) // [B,nh,T,T]
		ctx := merge(probs.MustMatmul(v, true))                      // [B,T,H]
		v.MustDrop()
		a := dropout(l.AttnOut.forward(ctx), cfg.HiddenDropoutProb, train) // [B,T,H]
		ctx.MustDrop()
		a = l.AttnNorm.forward(a.MustAdd(x, true), true) // [B,T,H] = LN(attn + x)
		x.MustDrop()

		// Feed-forward with exact (erf) GELU.
		f := l.Inter.forward(a).MustGelu("none", true)               // [B,T,I]
		o := dropout(l.Out.forward(f), cfg.HiddenDropoutProb, train) // [B,T,H]
		f.MustDrop()
		x = l.OutNorm.forward(o.MustAdd(a, true), true) // [B,T,H] = LN(ffn + a)
		a.MustDrop()
	}
	m.MustDrop()
	bias.MustDrop()
	return x // [B,T,H]
}

// linear is y = x Wᵀ + b with W [out,in] stored as HF stores it.
type linear struct {
	W, B *ts.Tensor // [out,in], [out]
}

func newLinear(p *nn.Path, in, out int64, std float64) linear {
	return linear{
		W: p.MustNewVar("weight", []int64{out, in}, nn.NewRandnInit(0, std)),
		B: p.MustNewVar("bias", []int64{out}, nn.NewConstInit(0)),
	}
}

// forward maps [...,in] to [...,out]; x is kept.
func (l linear) forward(x *ts.Tensor) *ts.Tensor {
	return ts.MustLinear(x, l.W, l.B)
}

type layerNorm struct {
	W, B *ts.Tensor // [H]
	eps  float64
	dim  []int64
}

func newLayerNorm(p *nn.Path, h int64, eps float64) layerNorm {
	return layerNorm{
		W:   p.MustNewVar("weight", []int64{h}, nn.NewConstInit(1)),
		B:   p.MustNewVar("bias", []int64{h}, nn.NewConstInit(0)),
		eps: eps,
		dim: []int64{h},
	}
}

// forward normalises the last dimension; x is freed when del is true.
func (n layerNorm) forward(x *ts.Tensor, del bool) *ts.Tensor {
	y := ts.MustLayerNorm(x, n.dim, n.W, n.B, n.eps, false)
	if del {
		x.MustDrop()
	}
	return y
}

// dropout frees x and returns its dropped-out copy when training; at
// inference it is the identity (no copy).
func dropout(x *ts.Tensor, p float64, train bool) *ts.Tensor {
	if !train || p == 0 {
		return x
	}
	y := ts.MustDropout(x, p, true)
	x.MustDrop()
	return y
}
