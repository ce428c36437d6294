package encoder

import (
	"math"
	"runtime"
	"strconv"

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

	// 0-dim float32 constants, made once.
	one, negLarge, invSqrtHead *ts.Tensor
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
	scalar := func(v float64) *ts.Tensor {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return float32Tensor([]float32{float32(v)}).gotchTensor() // 0-dim
	}
	emb := p.Sub("embeddings")
	b := &Bert{
		Config:      cfg,
		WordEmb:     emb.Sub("word_embeddings").MustNewVar("weight", []int64{int64(cfg.VocabSize), h}, nn.NewRandnInit(0, std)),
		PosEmb:      emb.Sub("position_embeddings").MustNewVar("weight", []int64{int64(cfg.MaxPositionEmbeddings), h}, nn.NewRandnInit(0, std)),
		TypeEmb:     emb.Sub("token_type_embeddings").MustNewVar("weight", []int64{int64(cfg.TypeVocabSize), h}, nn.NewRandnInit(0, std)),
		EmbNorm:     newLayerNorm(emb.Sub("LayerNorm"), h, cfg.LayerNormEps),
		one:         scalar(1),
		negLarge:    scalar(-math.MaxFloat32), // HF: torch.finfo(float32).min
		invSqrtHead: scalar(1 / math.Sqrt(float64(cfg.HeadDim()))),
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
// Every intermediate tensor is freed before it returns (autograd keeps what
// backward needs on its own). It panics on a shape error.
func (b *Bert) Forward(ids, mask *ts.Tensor, train bool) *ts.Tensor {
	runtime.LockOSThread() // libtorch's last error is per OS thread
	defer runtime.UnlockOSThread()
	size := ids.MustSize()
	out := b.forward(borrow(ids), borrow(mask), size[0], size[1], train).gotchTensor()
	// The handles were borrowed: keep their owners (and their finalizers)
	// alive until here.
	runtime.KeepAlive(ids)
	runtime.KeepAlive(mask)
	runtime.KeepAlive(b)
	return out
}

func (b *Bert) forward(ids, mask tensor, B, T int64, train bool) tensor {
	cfg := b.Config
	H, nh, dh := int64(cfg.HiddenSize), int64(cfg.NumAttentionHeads), int64(cfg.HeadDim())
	pHidden, pAttn := cfg.HiddenDropoutProb, cfg.AttentionProbsDropoutProb

	// Embeddings: word + absolute position + token type 0, then LayerNorm.
	word := embedding(borrow(b.WordEmb), ids) // [B,T,H]
	pos := narrow(borrow(b.PosEmb), 0, 0, T)  // [T,H]
	typ := selectAt(borrow(b.TypeEmb), 0, 0)  // [H]
	x := done(add(word, pos), word, pos)      // [B,T,H]
	x = done(add(x, typ), x, typ)             // [B,T,H]
	x = done(b.EmbNorm.forward(x), x)         // [B,T,H]
	x = dropout(x, pHidden, train)            // [B,T,H]

	// Additive key mask: 0 on real tokens, float32 min on padding, so that
	// softmax gives padded keys zero weight (HF's extended attention mask).
	m := toFloat(mask)                              // [B,T]
	pad := done(sub(borrow(b.one), m), m)           // [B,T] 1 on padding
	bias := done(mul(pad, borrow(b.negLarge)), pad) // [B,T]
	bias = done(view(bias, B, 1, 1, T), bias)       // [B,1,1,T]

	// heads splits [B,T,H] into [B,nh,T,dh]; merge is its inverse.
	heads := func(t tensor) tensor {
		v := done(view(t, B, T, nh, dh), t) // [B,T,nh,dh]
		return done(transpose(v, 1, 2), v)  // [B,nh,T,dh]
	}
	merge := func(t tensor) tensor {
		tr := done(transpose(t, 1, 2), t) // [B,T,nh,dh]
		c := done(contiguous(tr), tr)     // [B,T,nh,dh]
		return done(view(c, B, T, H), c)  // [B,T,H]
	}

	for _, l := range b.Layers {
		// Self-attention.
		q := heads(l.Query.forward(x))             // [B,nh,T,dh]
		k := heads(l.Key.forward(x))               // [B,nh,T,dh]
		v := heads(l.Value.forward(x))             // [B,nh,T,dh]
		kt := done(transpose(k, 2, 3), k)          // [B,nh,dh,T]
		s := done(matmul(q, kt), q, kt)            // [B,nh,T,T]
		s = done(mul(s, borrow(b.invSqrtHead)), s) // [B,nh,T,T] = qkᵀ/√dh
		s = done(add(s, bias), s)                  // [B,nh,T,T] + mask
		p := done(softmax(s, -1), s)               // [B,nh,T,T] over keys
		p = dropout(p, pAttn, train)               // [B,nh,T,T]
		ctx := merge(done(matmul(p, v), p, v))     // [B,T,H]
		a := done(l.AttnOut.forward(ctx), ctx)     // [B,T,H]
		a = dropout(a, pHidden, train)             // [B,T,H]
		r := done(add(a, x), a, x)                 // [B,T,H] residual
		a = done(l.AttnNorm.forward(r), r)         // [B,T,H]

		// Feed-forward with exact (erf) GELU.
		h := l.Inter.forward(a)           // [B,T,I]
		f := done(geluExact(h), h)        // [B,T,I]
		o := done(l.Out.forward(f), f)    // [B,T,H]
		o = dropout(o, pHidden, train)    // [B,T,H]
		r = done(add(o, a), o, a)         // [B,T,H] residual
		x = done(l.OutNorm.forward(r), r) // [B,T,H]
	}
	bias.free()
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
func (l linear) forward(x tensor) tensor { return linearOp(x, borrow(l.W), borrow(l.B)) }

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

// forward normalises the last dimension; x is kept.
func (n layerNorm) forward(x tensor) tensor {
	return layerNormOp(x, borrow(n.W), borrow(n.B), n.dim, n.eps)
}

// dropout returns x unchanged at inference; when training it frees x and
// returns its dropped-out copy.
func dropout(x tensor, p float64, train bool) tensor {
	if !train || p == 0 {
		return x
	}
	return done(dropoutOp(x, p), x)
}
