package mlp

import (
	"fmt"
	"runtime"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Trainer is a Net copied into libtorch variables with an Adam optimiser.
// libtorch's grad mode and error state are per OS thread, so a Trainer must
// be created, used and closed inside one Locked call.
type Trainer struct {
	vs     *nn.VarStore
	ws, bs []*ts.Tensor // per layer: weight [Out, In], bias [Out]
	hidden Act
	output Act
	opt    *ts.COptimizer
}

// Locked runs fn on a goroutine pinned to its OS thread with gradients
// enabled, which is what libtorch's thread-local state needs.
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
		for _, p := range []*ts.Tensor{t.ws[i], t.bs[i]} {
			if err := opt.AddParameter(p, 0); err != nil {
				t.Close()
				return nil, fmt.Errorf("adam parameter: %w", err)
			}
		}
	}
	return t, nil
}

func varFrom(p *nn.Path, name string, data []float32, shape []int64) (*ts.Tensor, error) {
	flat, err := ts.OfSlice(data)
	if err != nil {
		return nil, fmt.Errorf("tensor from slice: %w", err)
	}
	src, err := flat.View(shape, true)
	if err != nil {
		return nil, fmt.Errorf("view %v: %w", shape, err)
	}
	defer src.MustDrop()
	v, err := p.VarCopy(name, src)
	if err != nil {
		return nil, fmt.Errorf("create variable %s: %w", name, err)
	}
	return v, nil
}

// Forward is the batched forward pass: x [B, In] -> [B, Out], recorded on g.
func (t *Trainer) Forward(g *Graph, x T) T {
	h := x
	for i := range t.ws {
		w := T{lib.Ctensor(t.ws[i].Ctensor())}     // [Out, In], borrowed
		b := T{lib.Ctensor(t.bs[i].Ctensor())}     // [Out], borrowed
		y := g.Add(g.MatMul(h, g.Transpose(w)), b) // [B, Out] = h Wᵀ + b
		act := t.hidden
		if i == len(t.ws)-1 {
			act = t.output
		}
		switch act {
		case ReLU:
			y = g.Relu(y)
		case Tanh:
			y = g.Tanh(y)
		}
		h = y
	}
	return h
}

// Step runs build on a fresh graph to get a scalar loss, back-propagates it,
// applies one Adam update, frees the graph and returns the loss value. A
// libtorch failure inside build comes back as an error.
func (t *Trainer) Step(build func(g *Graph) T) (loss float64, err error) {
	g := &Graph{}
	defer g.Free()
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("training step: %w", e)
		}
	}()
	l := build(g)
	if err := t.opt.ZeroGrad(); err != nil {
		return 0, fmt.Errorf("zero grad: %w", err)
	}
	lib.AtBackward(l.c, 0, 0)
	if err := ts.TorchErr(); err != nil {
		return 0, fmt.Errorf("backward: %w", err)
	}
	if err := t.opt.Step(); err != nil {
		return 0, fmt.Errorf("adam step: %w", err)
	}
	return Value(l), nil
}

// Eval runs build on a fresh graph without recording gradients and copies
// the result into out.
func (t *Trainer) Eval(build func(g *Graph) T, out []float32) (err error) {
	g := &Graph{}
	defer g.Free()
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("eval: %w", e)
		}
	}()
	ts.NoGrad(func() { err = copyOut(build(g), out) })
	return err
}

// Net copies the current weights back into a new Go Net.
func (t *Trainer) Net() (*Net, error) {
	n := &Net{Hidden: t.hidden, Output: t.output}
	for i := range t.ws {
		size, err := t.ws[i].Size()
		if err != nil {
			return nil, fmt.Errorf("weight %d size: %w", i, err)
		}
		l := Layer{Out: int(size[0]), In: int(size[1])}
		l.W = make([]float32, l.Out*l.In)
		l.B = make([]float32, l.Out)
		if err := copyOut(T{lib.Ctensor(t.ws[i].Ctensor())}, l.W); err != nil {
			return nil, fmt.Errorf("copy weight %d: %w", i, err)
		}
		if err := copyOut(T{lib.Ctensor(t.bs[i].Ctensor())}, l.B); err != nil {
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

// Rows gathers rows[idx] into one flat [len(idx) * width] slice, applying
// transform (e.g. standardisation) to each row on the way.
func Rows(rows [][]float32, idx []int, width int, transform func(dst, src []float32)) []float32 {
	flat := make([]float32, len(idx)*width)
	for i, j := range idx {
		dst := flat[i*width : (i+1)*width]
		if transform != nil {
			transform(dst, rows[j])
		} else {
			copy(dst, rows[j])
		}
	}
	return flat
}
