package encoder

import (
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// attention is HF's BertAttention: multi-head self-attention, then its
// output projection with the residual connection and LayerNorm.
type attention struct {
	self   selfAttention
	output attentionOutput
}

// newAttention makes the variables under p ("encoder.layer.N.attention").
func newAttention(p *nn.Path, cfg BertConfig, std float64, scale *ts.Tensor) attention {
	return attention{
		self:   newSelfAttention(p.Sub("self"), cfg, std, scale),
		output: newAttentionOutput(p.Sub("output"), cfg, std),
	}
}

// forward maps x [B,T,H] to [B,T,H]; x and bias [B,1,1,T] are kept.
func (a attention) forward(x, bias tensor, B, T int64, train bool) tensor {
	ctx := a.self.forward(x, bias, B, T, train)       // [B,T,H]
	return done(a.output.forward(ctx, x, train), ctx) // [B,T,H]
}

// selfAttention is HF's BertSelfAttention (absolute positions): per head,
// softmax(q kᵀ/√dh + mask) v.
type selfAttention struct {
	query, key, value linear     // H -> H each
	scale             *ts.Tensor // 0-dim 1/√dh, shared by the layers
	heads, headDim    int64      // nh, dh
	hidden            int64      // H = nh·dh
	dropout           float64    // on the attention probabilities
}

func newSelfAttention(p *nn.Path, cfg BertConfig, std float64, scale *ts.Tensor) selfAttention {
	h := int64(cfg.HiddenSize)
	return selfAttention{
		query:   newLinear(p.Sub("query"), h, h, std),
		key:     newLinear(p.Sub("key"), h, h, std),
		value:   newLinear(p.Sub("value"), h, h, std),
		scale:   scale,
		heads:   int64(cfg.NumAttentionHeads),
		headDim: int64(cfg.HeadDim()),
		hidden:  h,
		dropout: cfg.AttentionProbsDropoutProb,
	}
}

// forward maps x [B,T,H] to the attention context [B,T,H]; x and the
// additive key mask bias [B,1,1,T] are kept.
func (s selfAttention) forward(x, bias tensor, B, T int64, train bool) tensor {
	q := s.splitHeads(s.query.forward(x), B, T) // [B,nh,T,dh]
	k := s.splitHeads(s.key.forward(x), B, T)   // [B,nh,T,dh]
	v := s.splitHeads(s.value.forward(x), B, T) // [B,nh,T,dh]
	kt := done(transpose(k, 2, 3), k)           // [B,nh,dh,T]
	sc := done(matmul(q, kt), q, kt)            // [B,nh,T,T]
	sc = done(mul(sc, borrow(s.scale)), sc)     // [B,nh,T,T] = qkᵀ/√dh
	sc = done(add(sc, bias), sc)                // [B,nh,T,T] + mask
	p := done(softmax(sc, -1), sc)              // [B,nh,T,T] over keys
	p = dropout(p, s.dropout, train)            // [B,nh,T,T]
	ctx := done(matmul(p, v), p, v)             // [B,nh,T,dh]
	return s.mergeHeads(ctx, B, T)              // [B,T,H]
}

// splitHeads turns [B,T,H] into [B,nh,T,dh]; t is freed.
func (s selfAttention) splitHeads(t tensor, B, T int64) tensor {
	v := done(view(t, B, T, s.heads, s.headDim), t) // [B,T,nh,dh]
	return done(transpose(v, 1, 2), v)              // [B,nh,T,dh]
}

// mergeHeads is the inverse of splitHeads: [B,nh,T,dh] to [B,T,H]; t is
// freed.
func (s selfAttention) mergeHeads(t tensor, B, T int64) tensor {
	tr := done(transpose(t, 1, 2), t)       // [B,T,nh,dh]
	c := done(contiguous(tr), tr)           // [B,T,nh,dh]
	return done(view(c, B, T, s.hidden), c) // [B,T,H]
}

// attentionOutput is HF's BertSelfOutput: dense, dropout, then LayerNorm of
// the residual sum with the attention's input.
type attentionOutput struct {
	dense   linear    // H -> H
	norm    layerNorm // after the residual
	dropout float64
}

func newAttentionOutput(p *nn.Path, cfg BertConfig, std float64) attentionOutput {
	h := int64(cfg.HiddenSize)
	return attentionOutput{
		dense:   newLinear(p.Sub("dense"), h, h, std),
		norm:    newLayerNorm(p.Sub("LayerNorm"), h, cfg.LayerNormEps),
		dropout: cfg.HiddenDropoutProb,
	}
}

// forward maps the context h [B,T,H] and the attention's input [B,T,H] to
// [B,T,H]; both are kept.
func (o attentionOutput) forward(h, input tensor, train bool) tensor {
	a := o.dense.forward(h)           // [B,T,H]
	a = dropout(a, o.dropout, train)  // [B,T,H]
	r := done(add(a, input), a)       // [B,T,H] residual
	return done(o.norm.forward(r), r) // [B,T,H]
}
