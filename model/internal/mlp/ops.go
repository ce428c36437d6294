package mlp

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// Training steps call gotch's C layer (libtch) directly rather than its Go
// tensor API, whose generated wrappers leak a malloc per operation and put a
// finalizer on every tensor: AEM fine-tunes a running collector again and
// again, so a per-step leak would grow without bound. A Graph owns the
// tensors of one step and frees them together; autograd lives in libtorch
// and is unaffected.

// T is a libtorch tensor handle owned by a Graph (or borrowed from one of
// the Trainer's parameters).
type T struct{ c lib.Ctensor }

// Graph collects the tensors of one training step. Ops panic with an error
// on a libtorch failure (shapes are fixed by the caller, so a failure is a
// bug); Trainer.Step recovers it. Use from one locked OS thread.
type Graph struct {
	owned []lib.Ctensor
}

// Free releases every tensor the graph made.
func (g *Graph) Free() {
	for _, c := range g.owned {
		lib.AtFree(c)
	}
	g.owned = g.owned[:0]
}

func (g *Graph) keep(op string, c lib.Ctensor) T {
	if err := ts.TorchErr(); err != nil {
		panic(fmt.Errorf("libtorch %s: %w", op, err))
	}
	g.owned = append(g.owned, c)
	return T{c}
}

// Input copies data into a new float32 tensor of the given shape.
func (g *Graph) Input(data []float32, shape ...int64) T {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	if int64(len(data)) != n || n == 0 {
		panic(fmt.Errorf("input of %d values for shape %v", len(data), shape))
	}
	c := lib.AtTensorOfData(unsafe.Pointer(&data[0]), shape, uint(len(shape)), 4, int(gotch.Float.CInt()))
	return g.keep("tensor_of_data", c)
}

func (g *Graph) MatMul(a, b T) T {
	var o lib.Ctensor
	lib.AtgMatmul(&o, a.c, b.c)
	return g.keep("matmul", o)
}
func (g *Graph) Add(a, b T) T    { var o lib.Ctensor; lib.AtgAdd(&o, a.c, b.c); return g.keep("add", o) }
func (g *Graph) Sub(a, b T) T    { var o lib.Ctensor; lib.AtgSub(&o, a.c, b.c); return g.keep("sub", o) }
func (g *Graph) Mul(a, b T) T    { var o lib.Ctensor; lib.AtgMul(&o, a.c, b.c); return g.keep("mul", o) }
func (g *Graph) Div(a, b T) T    { var o lib.Ctensor; lib.AtgDiv(&o, a.c, b.c); return g.keep("div", o) }
func (g *Graph) Transpose(a T) T { var o lib.Ctensor; lib.AtgT(&o, a.c); return g.keep("t", o) }
func (g *Graph) Relu(a T) T      { var o lib.Ctensor; lib.AtgRelu(&o, a.c); return g.keep("relu", o) }
func (g *Graph) Tanh(a T) T      { var o lib.Ctensor; lib.AtgTanh(&o, a.c); return g.keep("tanh", o) }
func (g *Graph) Sqrt(a T) T      { var o lib.Ctensor; lib.AtgSqrt(&o, a.c); return g.keep("sqrt", o) }

// Mean of all elements: [..] -> scalar tensor.
func (g *Graph) Mean(a T) T {
	var o lib.Ctensor
	lib.AtgMean(&o, a.c, gotch.Float.CInt())
	return g.keep("mean", o)
}

// SumRows sums over dimension 1: [N, d] -> [N] (or [N, 1] with keep).
func (g *Graph) SumRows(a T, keep bool) T {
	var o lib.Ctensor
	k := int32(0)
	if keep {
		k = 1
	}
	lib.AtgSumDimIntlist(&o, a.c, []int64{1}, 1, k, gotch.Float.CInt())
	return g.keep("sum", o)
}

// AddScalar is a + s.
func (g *Graph) AddScalar(a T, s float64) T {
	sc := lib.AtsFloat(s)
	defer lib.AtsFree(sc)
	var o lib.Ctensor
	lib.AtgAddScalar(&o, a.c, sc)
	return g.keep("add_scalar", o)
}

// RsubScalar is s - a.
func (g *Graph) RsubScalar(a T, s float64) T {
	sc := lib.AtsFloat(s)
	defer lib.AtsFree(sc)
	var o lib.Ctensor
	lib.AtgRsubScalar(&o, a.c, sc)
	return g.keep("rsub_scalar", o)
}

// MSE is the mean squared error between a and b (mean over all elements).
func (g *Graph) MSE(a, b T) T {
	var o lib.Ctensor
	lib.AtgMseLoss(&o, a.c, b.c, 1) // reduction 1 = mean
	return g.keep("mse_loss", o)
}

// Value reads a one-element tensor.
func Value(a T) float64 {
	var v float32
	lib.AtCopyData(a.c, unsafe.Pointer(&v), 1, 4)
	return float64(v)
}

// copyOut copies a tensor's float32 data into dst.
func copyOut(a T, dst []float32) error {
	if len(dst) == 0 {
		return nil
	}
	lib.AtCopyData(a.c, unsafe.Pointer(&dst[0]), uint(len(dst)), 4)
	return ts.TorchErr()
}
