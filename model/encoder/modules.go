package encoder

import (
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// The building blocks of bert.go's blocks: a dense layer, LayerNorm and
// dropout. Their forward methods keep their input; the caller owns the
// result.

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
