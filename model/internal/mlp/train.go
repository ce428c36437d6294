package mlp

import (
	"fmt"
	"runtime"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Trainer is a Net copied into libtorch variables with an Adam optimiser.
// libtorch's grad mode is per OS thread, so a Trainer must be created, used
// and closed inside one Locked call.
type Trainer struct {
	vs     *nn.VarStore
	ws, bs []*ts.Tensor // per layer: weight [Out, In], bias [Out]
	hidden Act
	output Act
	opt    *ts.COptimizer
}

// Locked runs fn on a goroutine pinned to its OS thread with gradients
// enabled, which is what libtorch's thread-local autograd state needs.
func Locked(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := ts.GradSetEnabled(true); err != nil {
		return fmt.Errorf("enable autograd: %w", err)
	}
	return fn()
}

// NewTrainer copies n's weights into libtorch and builds Adam (betas 0.9,
// 0.999, no weight decay) with learning rate lr.
func NewTrainer(n *Net, lr float64) (*Trainer, error) {
	t := &Trainer{vs: nn.NewVarStore(gotch.CPU), hidden: n.Hidden, output: n.Output}
	root := t.vs.Root()
	for i, l := range n.Layers {
		w, err := varFrom(root, fmt.Sprintf("w%d", i), l.W, []int64{int64(l.Out), int64(l.In)})
		if err != nil {
			t.Close()
			return nil, err
		}
		b, err := varFrom(root, fmt.Sprintf("b%d", i), l.B, []int64{int64(l.Out)})
		if err != nil {
			t.Close()
			return nil, err
		}
		t.ws = append(t.ws, w)
		t.bs = append(t.bs, b)
	}
	opt, err := ts.Adam(lr, 0.9, 0.999, 0)
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("build adam: %w", err)
	}
	t.opt = opt
	for i := range t.ws {
		if err := opt.AddParameter(t.ws[i], 0); err != nil {
			t.Close()
			return nil, fmt.Errorf("adam parameter: %w", err)
		}
		if err := opt.AddParameter(t.bs[i], 0); err != nil {
			t.Close()
			return nil, fmt.Errorf("adam parameter: %w", err)
		}
	}
	return t, nil
}

func varFrom(p *nn.Path, name string, data []float32, shape []int64) (*ts.Tensor, error) {
	src, err := Tensor(data, shape)
	if err != nil {
		return nil, err
	}
	defer src.MustDrop()
	v, err := p.VarCopy(name, src)
	if err != nil {
		return nil, fmt.Errorf("create variable %s: %w", name, err)
	}
	return v, nil
}

// Tensor copies data into a new float32 tensor of the given shape.
func Tensor(data []float32, shape []int64) (*ts.Tensor, error) {
	flat, err := ts.OfSlice(data)
	if err != nil {
		return nil, fmt.Errorf("tensor from slice: %w", err)
	}
	out, err := flat.View(shape, true)
	if err != nil {
		return nil, fmt.Errorf("view %v: %w", shape, err)
	}
	return out, nil
}

// Forward is the batched forward pass: x [B, In] -> [B, Out]. The caller
// owns (and drops) the result; x is left alone.
func (t *Trainer) Forward(x *ts.Tensor) *ts.Tensor {
	h := x
	for i := range t.ws {
		wT := t.ws[i].MustT(false)   // [In, Out]
		y := h.MustMatmul(wT, false) // [B, Out]
		y = y.MustAdd(t.bs[i], true) // + b
		act := t.hidden
		if i == len(t.ws)-1 {
			act = t.output
		}
		switch act {
		case ReLU:
			y = y.MustRelu(true)
		case Tanh:
			y = y.MustTanh(true)
		}
		wT.MustDrop()
		if h != x {
			h.MustDrop()
		}
		h = y
	}
	return h
}

// Step back-propagates a scalar loss and applies one Adam update.
func (t *Trainer) Step(loss *ts.Tensor) error {
	if err := t.opt.ZeroGrad(); err != nil {
		return fmt.Errorf("zero grad: %w", err)
	}
	if err := loss.Backward(); err != nil {
		return fmt.Errorf("backward: %w", err)
	}
	if err := t.opt.Step(); err != nil {
		return fmt.Errorf("adam step: %w", err)
	}
	return nil
}

// Net copies the current weights back into a new Go Net.
func (t *Trainer) Net() (*Net, error) {
	n := &Net{Hidden: t.hidden, Output: t.output}
	for i := range t.ws {
		size := t.ws[i].MustSize()
		l := Layer{Out: int(size[0]), In: int(size[1])}
		l.W = make([]float32, l.Out*l.In)
		l.B = make([]float32, l.Out)
		if err := t.ws[i].CopyData(l.W, uint(len(l.W))); err != nil {
			return nil, fmt.Errorf("copy weight %d: %w", i, err)
		}
		if err := t.bs[i].CopyData(l.B, uint(len(l.B))); err != nil {
			return nil, fmt.Errorf("copy bias %d: %w", i, err)
		}
		n.Layers = append(n.Layers, l)
	}
	return n, nil
}

// Close frees the libtorch variables and optimiser state.
func (t *Trainer) Close() {
	if t.opt != nil {
		t.opt.Drop()
		t.opt = nil
	}
	if t.vs != nil {
		t.vs.Destroy()
		t.vs = nil
	}
}

// Batch gathers rows[idx] into one [len(idx), width] tensor, applying
// transform (e.g. standardisation) to each row on the way.
func Batch(rows [][]float32, idx []int, width int, transform func(dst, src []float32)) (*ts.Tensor, error) {
	flat := make([]float32, len(idx)*width)
	for i, j := range idx {
		dst := flat[i*width : (i+1)*width]
		if transform != nil {
			transform(dst, rows[j])
		} else {
			copy(dst, rows[j])
		}
	}
	return Tensor(flat, []int64{int64(len(idx)), int64(width)})
}

// Scalar reads a one-element tensor.
func Scalar(x *ts.Tensor) float64 { return x.Float64Values()[0] }
