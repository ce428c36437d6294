package pretrain

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// adamW is Adam with decoupled weight decay (Loshchilov & Hutter, 2019),
// written here rather than taken from gotch because gotch's optimizer state
// lives in C++ and cannot be saved: training must resume exactly.
type adamW struct {
	names  []string
	params []*ts.Tensor
	decay  []bool // no decay for biases and LayerNorm, as in BERT
	frozen []bool // not updated (the MLM head during the contrastive stage)
	m, v   []*ts.Tensor
	step   int
	b1, b2 float64
	eps    float64
	wd     float64
}

func newAdamW(vs *nn.VarStore, wd float64) *adamW {
	vars := vs.Variables()
	a := &adamW{b1: 0.9, b2: 0.999, eps: 1e-6, wd: wd}
	for n := range vars {
		a.names = append(a.names, n)
	}
	sort.Strings(a.names)
	for _, n := range a.names {
		v := vars[n]
		a.params = append(a.params, &v)
		a.decay = append(a.decay, !strings.HasSuffix(n, "bias") && !strings.Contains(n, "LayerNorm"))
		a.frozen = append(a.frozen, false)
		size := v.MustSize()
		a.m = append(a.m, ts.MustZeros(size, gotch.Float, gotch.CPU))
		a.v = append(a.v, ts.MustZeros(size, gotch.Float, gotch.CPU))
	}
	return a
}

// freeze stops (or, with false, resumes) updates of the parameters whose
// name starts with prefix; their gradients are ignored.
func (a *adamW) freeze(prefix string, on bool) {
	for i, n := range a.names {
		if strings.HasPrefix(n, prefix) {
			a.frozen[i] = on
		}
	}
}

// update applies one step with learning rate lr after clipping the global
// gradient norm to clip, then zeroes the gradients. It returns the norm
// before clipping.
func (a *adamW) update(lr, clip float64) float64 {
	var norm float64
	noGrad(func() {
		grads := make([]*ts.Tensor, len(a.params))
		var sq float64
		for i, p := range a.params {
			g := p.MustGrad(false)
			if !g.MustDefined() || a.frozen[i] { // frozen, or not in this loss's graph
				if g.MustDefined() {
					g.MustZero_()
				}
				g.MustDrop()
				continue
			}
			grads[i] = g
			s := g.MustMul(g, false).MustSum(gotch.Double, true)
			sq += s.Float64Values()[0]
			s.MustDrop()
		}
		norm = math.Sqrt(sq)
		scale := 1.0
		if clip > 0 && norm > clip {
			scale = clip / (norm + 1e-6)
		}
		a.step++
		bc1 := 1 - math.Pow(a.b1, float64(a.step))
		bc2 := 1 - math.Pow(a.b2, float64(a.step))
		b1, b2 := ts.FloatScalar(a.b1), ts.FloatScalar(a.b2)
		for i, p := range a.params {
			if grads[i] == nil {
				continue
			}
			g := grads[i].MustMulScalar(ts.FloatScalar(scale), true) // clipped gradient
			// m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g²
			a.m[i].MustMulScalar_(b1)
			gm := g.MustMulScalar(ts.FloatScalar(1-a.b1), false)
			a.m[i].MustAdd_(gm)
			gm.MustDrop()
			a.v[i].MustMulScalar_(b2)
			g2 := g.MustMul(g, true).MustMulScalar(ts.FloatScalar(1-a.b2), true)
			a.v[i].MustAdd_(g2)
			g2.MustDrop()
			// p -= lr (m/bc1) / (sqrt(v/bc2) + eps) ; decoupled decay p -= lr wd p
			if a.decay[i] && a.wd > 0 {
				p.MustMulScalar_(ts.FloatScalar(1 - lr*a.wd))
			}
			den := a.v[i].MustSqrt(false)
			den.MustMulScalar_(ts.FloatScalar(1 / math.Sqrt(bc2)))
			den.MustAddScalar_(ts.FloatScalar(a.eps))
			upd := a.m[i].MustDiv(den, false).MustMulScalar(ts.FloatScalar(lr/bc1), true)
			den.MustDrop()
			p.MustSub_(upd)
			upd.MustDrop()
			p.ZeroGrad()
		}
	})
	return norm
}

// named returns the moment tensors under stable names, for saving.
func (a *adamW) named() []ts.NamedTensor {
	out := make([]ts.NamedTensor, 0, 2*len(a.names))
	for i, n := range a.names {
		out = append(out, ts.NamedTensor{Name: "m." + n, Tensor: a.m[i]}, ts.NamedTensor{Name: "v." + n, Tensor: a.v[i]})
	}
	return out
}

// load restores the moments saved by named; every moment must be present
// with the right shape.
func (a *adamW) load(saved []ts.NamedTensor, step int) error {
	byName := make(map[string]*ts.Tensor, len(saved))
	for _, s := range saved {
		byName[s.Name] = s.Tensor
	}
	for i, n := range a.names {
		for _, mv := range []struct {
			prefix string
			dst    *ts.Tensor
		}{{"m.", a.m[i]}, {"v.", a.v[i]}} {
			src, ok := byName[mv.prefix+n]
			if !ok {
				return fmt.Errorf("optimizer state has no %s%s", mv.prefix, n)
			}
			if got, want := src.MustSize(), mv.dst.MustSize(); fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("optimizer state %s%s has shape %v, want %v", mv.prefix, n, got, want)
			}
		}
	}
	noGrad(func() {
		for i, n := range a.names {
			a.m[i].Copy_(byName["m."+n])
			a.v[i].Copy_(byName["v."+n])
		}
	})
	a.step = step
	return nil
}

func (a *adamW) drop() {
	for i := range a.m {
		a.m[i].MustDrop()
		a.v[i].MustDrop()
	}
}

// noGrad runs fn with libtorch's gradient mode off, then turns it back on
// (training code always runs with gradients on). Grad mode is thread-local in
// libtorch, so the goroutine is pinned to its OS thread for the duration
// (gotch's ts.NoGrad is not). The previous mode is not read back: gotch's
// GradSetEnabled reads the C int it returns as a Go int, so the "previous
// state" it reports is unreliable.
func noGrad(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := ts.GradSetEnabled(false); err == nil {
		defer ts.GradSetEnabled(true) //nolint:errcheck // setting a mode that was set before cannot fail
	}
	fn()
}
