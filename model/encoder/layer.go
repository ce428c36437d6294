package encoder

import (
	"strconv"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// encoderStack is HF's BertEncoder: the layers, one after the other.
type encoderStack struct {
	layers []layer
}

// newEncoderStack makes the variables under p ("encoder"): layer.0,
// layer.1, ...
func newEncoderStack(p *nn.Path, cfg BertConfig, std float64, scale *ts.Tensor) encoderStack {
	var s encoderStack
	lp := p.Sub("layer")
	for l := 0; l < cfg.NumHiddenLayers; l++ {
		s.layers = append(s.layers, newLayer(lp.Sub(strconv.Itoa(l)), cfg, std, scale))
	}
	return s
}

// forward maps x [B,T,H] to the last hidden states [B,T,H]. x is consumed
// (freed once the first layer has used it); bias [B,1,1,T] is kept.
func (s encoderStack) forward(x, bias tensor, B, T int64, train bool) tensor {
	for _, l := range s.layers {
		x = done(l.forward(x, bias, B, T, train), x) // [B,T,H]
	}
	return x
}

// layer is HF's BertLayer: attention, then the feed-forward block
// (intermediate and output).
type layer struct {
	attention    attention
	intermediate intermediate
	output       output
}

// newLayer makes the variables under p ("encoder.layer.N").
func newLayer(p *nn.Path, cfg BertConfig, std float64, scale *ts.Tensor) layer {
	return layer{
		attention:    newAttention(p.Sub("attention"), cfg, std, scale),
		intermediate: newIntermediate(p.Sub("intermediate"), cfg, std),
		output:       newOutput(p.Sub("output"), cfg, std),
	}
}

// forward maps x [B,T,H] to [B,T,H]; x and bias [B,1,1,T] are kept.
func (l layer) forward(x, bias tensor, B, T int64, train bool) tensor {
	a := l.attention.forward(x, bias, B, T, train)   // [B,T,H]
	h := l.intermediate.forward(a)                   // [B,T,I]
	return done(l.output.forward(h, a, train), h, a) // [B,T,H]
}

// intermediate is HF's BertIntermediate: dense H -> I and exact (erf) GELU.
type intermediate struct {
	dense linear // H -> I
}

func newIntermediate(p *nn.Path, cfg BertConfig, std float64) intermediate {
	return intermediate{dense: newLinear(p.Sub("dense"), int64(cfg.HiddenSize), int64(cfg.IntermediateSize), std)}
}

// forward maps [B,T,H] to [B,T,I]; x is kept.
func (m intermediate) forward(x tensor) tensor {
	h := m.dense.forward(x)      // [B,T,I]
	return done(geluExact(h), h) // [B,T,I]
}

// output is HF's BertOutput: dense I -> H, dropout, then LayerNorm of the
// residual sum with the attention's output.
type output struct {
	dense   linear    // I -> H
	norm    layerNorm // after the residual
	dropout float64
}

func newOutput(p *nn.Path, cfg BertConfig, std float64) output {
	h, i := int64(cfg.HiddenSize), int64(cfg.IntermediateSize)
	return output{
		dense:   newLinear(p.Sub("dense"), i, h, std),
		norm:    newLayerNorm(p.Sub("LayerNorm"), h, cfg.LayerNormEps),
		dropout: cfg.HiddenDropoutProb,
	}
}

// forward maps h [B,T,I] and the attention's output [B,T,H] to [B,T,H];
// both are kept.
func (o output) forward(h, input tensor, train bool) tensor {
	x := o.dense.forward(h)           // [B,T,H]
	x = dropout(x, o.dropout, train)  // [B,T,H]
	r := done(add(x, input), x)       // [B,T,H] residual
	return done(o.norm.forward(r), r) // [B,T,H]
}
