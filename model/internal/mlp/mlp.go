// Package mlp is the fully connected network shared by the coordinator and
// the small model: inference in Go (one session at a time, no cgo, safe for
// concurrent use) and training on libtorch through gotch (see train.go).
// Weights live in Go; a Trainer copies them into libtorch variables, trains,
// and copies them back into a new Net, so a trained Net is immutable.
package mlp

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/internal/wire"
)

// Act is an activation function.
type Act string

const (
	Identity Act = "identity"
	ReLU     Act = "relu"
	Tanh     Act = "tanh"
)

func (a Act) valid() bool { return a == Identity || a == ReLU || a == Tanh }

// Layer is y = W x + b with W stored row-major as [Out][In] (PyTorch's
// nn.Linear layout), so each output is one row dot product.
type Layer struct {
	In, Out int
	W       []float32 // [Out*In]
	B       []float32 // [Out]
}

// Net is a stack of layers: Hidden after every layer but the last, Output
// after the last.
type Net struct {
	Layers []Layer
	Hidden Act
	Output Act
}

// New builds a net with layer sizes dims[0] -> dims[1] -> ... and PyTorch's
// default nn.Linear initialisation, U(-1/sqrt(in), 1/sqrt(in)), drawn from rng
// so that training repeats for a seed.
func New(dims []int, hidden, output Act, rng *rand.Rand) (*Net, error) {
	if len(dims) < 2 {
		return nil, fmt.Errorf("mlp: need at least input and output sizes, got %v", dims)
	}
	for _, d := range dims {
		if d <= 0 {
			return nil, fmt.Errorf("mlp: layer sizes must be positive, got %v", dims)
		}
	}
	if !hidden.valid() || !output.valid() {
		return nil, fmt.Errorf("mlp: unknown activation %q/%q", hidden, output)
	}
	n := &Net{Hidden: hidden, Output: output}
	for i := 0; i+1 < len(dims); i++ {
		in, out := dims[i], dims[i+1]
		bound := 1 / math.Sqrt(float64(in))
		l := Layer{In: in, Out: out, W: make([]float32, in*out), B: make([]float32, out)}
		for j := range l.W {
			l.W[j] = float32((rng.Float64()*2 - 1) * bound)
		}
		for j := range l.B {
			l.B[j] = float32((rng.Float64()*2 - 1) * bound)
		}
		n.Layers = append(n.Layers, l)
	}
	return n, nil
}

// InDim is the input width.
func (n *Net) InDim() int { return n.Layers[0].In }

// OutDim is the output width.
func (n *Net) OutDim() int { return n.Layers[len(n.Layers)-1].Out }

// Dims lists the layer sizes, input first.
func (n *Net) Dims() []int {
	d := []int{n.InDim()}
	for _, l := range n.Layers {
		d = append(d, l.Out)
	}
	return d
}

// Forward runs one input through the net: x [In] -> [Out]. It allocates its
// own buffers, so concurrent calls are safe.
func (n *Net) Forward(x []float32) []float32 {
	h := x
	for i, l := range n.Layers {
		y := make([]float32, l.Out)
		vec.DotRows(l.W, h, y) // y = W h
		act := n.Hidden
		if i == len(n.Layers)-1 {
			act = n.Output
		}
		for j := range y {
			y[j] = apply(act, y[j]+l.B[j])
		}
		h = y
	}
	return h
}

func apply(a Act, x float32) float32 {
	switch a {
	case ReLU:
		return max(x, 0)
	case Tanh:
		return float32(math.Tanh(float64(x)))
	}
	return x
}

// Encode appends the net to w as named arrays "<prefix>.<i>.weight|bias".
func (n *Net) Encode(w *wire.Writer, prefix string) {
	w.String(string(n.Hidden))
	w.String(string(n.Output))
	w.U32(uint32(len(n.Layers)))
	for i, l := range n.Layers {
		w.Array(fmt.Sprintf("%s.%d.weight", prefix, i), []int{l.Out, l.In}, l.W)
		w.Array(fmt.Sprintf("%s.%d.bias", prefix, i), []int{l.Out}, l.B)
	}
}

// maxLayers bounds what Decode accepts; real nets have a handful.
const maxLayers = 64

// Decode reads a net written by Encode and checks that consecutive layers
// fit together.
func Decode(r *wire.Reader, prefix string) (*Net, error) {
	n := &Net{Hidden: Act(r.String()), Output: Act(r.String())}
	count := r.U32()
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("decode %s: %w", prefix, err)
	}
	if !n.Hidden.valid() || !n.Output.valid() {
		return nil, fmt.Errorf("decode %s: unknown activation %q/%q", prefix, n.Hidden, n.Output)
	}
	if count == 0 || count > maxLayers {
		return nil, fmt.Errorf("decode %s: %d layers", prefix, count)
	}
	for i := 0; i < int(count); i++ {
		ws, w := r.Array(fmt.Sprintf("%s.%d.weight", prefix, i))
		bs, b := r.Array(fmt.Sprintf("%s.%d.bias", prefix, i))
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("decode %s: %w", prefix, err)
		}
		if len(ws) != 2 || len(bs) != 1 || bs[0] != ws[0] || ws[0] == 0 || ws[1] == 0 {
			return nil, fmt.Errorf("decode %s: layer %d has weight %v and bias %v", prefix, i, ws, bs)
		}
		if i > 0 && n.Layers[i-1].Out != ws[1] {
			return nil, fmt.Errorf("decode %s: layer %d takes %d inputs, previous gives %d", prefix, i, ws[1], n.Layers[i-1].Out)
		}
		n.Layers = append(n.Layers, Layer{In: ws[1], Out: ws[0], W: w, B: b})
	}
	return n, nil
}
