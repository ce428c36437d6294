package mlp

import (
	"math"
	"math/rand"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/internal/wire"
	"github.com/sugarme/gotch/ts"
)

// The Go forward pass used at inference and the libtorch one used in training
// must agree, or a trained model would behave differently once exported.
func TestForwardParity(t *testing.T) {
	for _, out := range []Act{Identity, Tanh} {
		n, err := New([]int{16, 8, 24, 16}, ReLU, out, rand.New(rand.NewSource(1)))
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewSource(2))
		rows := make([][]float32, 5)
		for i := range rows {
			rows[i] = make([]float32, 16)
			for j := range rows[i] {
				rows[i][j] = float32(r.NormFloat64())
			}
		}
		err = Locked(func() error {
			tr, err := NewTrainer(n, 1e-3)
			if err != nil {
				return err
			}
			defer tr.Close()
			x, err := Batch(rows, []int{0, 1, 2, 3, 4}, 16, nil)
			if err != nil {
				return err
			}
			defer x.MustDrop()
			var y *ts.Tensor
			ts.NoGrad(func() { y = tr.Forward(x) })
			got := make([]float32, 5*16)
			if err := y.CopyData(got, uint(len(got))); err != nil {
				return err
			}
			y.MustDrop()
			for i, row := range rows {
				want := n.Forward(row)
				for j := range want {
					if math.Abs(float64(want[j]-got[i*16+j])) > 1e-5 {
						t.Errorf("%s row %d out %d: go %v torch %v", out, i, j, want[j], got[i*16+j])
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestTrainerLearnsAndExports(t *testing.T) {
	n, _ := New([]int{2, 8, 1}, ReLU, Identity, rand.New(rand.NewSource(1)))
	rows := [][]float32{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
	target := []float32{0, 1, 1, 2}
	var trained *Net
	err := Locked(func() error {
		tr, err := NewTrainer(n, 0.05)
		if err != nil {
			return err
		}
		defer tr.Close()
		x, _ := Batch(rows, []int{0, 1, 2, 3}, 2, nil)
		y, _ := Tensor(target, []int64{4, 1})
		for range 300 {
			p := tr.Forward(x)
			loss := p.MustMseLoss(y, 1, true)
			if err := tr.Step(loss); err != nil {
				return err
			}
			loss.MustDrop()
		}
		x.MustDrop()
		y.MustDrop()
		trained, err = tr.Net()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		if got := trained.Forward(row)[0]; math.Abs(float64(got-target[i])) > 0.1 {
			t.Errorf("row %v: got %v want %v", row, got, target[i])
		}
	}
	// The original net is untouched by training.
	if n.Layers[0].W[0] == trained.Layers[0].W[0] && n.Layers[1].W[0] == trained.Layers[1].W[0] {
		t.Error("trained weights identical to the initial ones")
	}
}

func TestEncodeDecode(t *testing.T) {
	n, _ := New([]int{4, 3, 2}, ReLU, Tanh, rand.New(rand.NewSource(5)))
	var w wire.Writer
	n.Encode(&w, "net")
	got, err := Decode(wire.NewReader(w.Bytes()), "net")
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, -2, 3, 0.5}
	a, b := n.Forward(x), got.Forward(x)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("decoded net differs: %v vs %v", a, b)
		}
	}
	for cut := 0; cut < len(w.Bytes()); cut += 7 {
		if _, err := Decode(wire.NewReader(w.Bytes()[:cut]), "net"); err == nil {
			t.Fatalf("truncated at %d decoded without error", cut)
		}
	}
	if _, err := Decode(wire.NewReader(w.Bytes()), "other"); err == nil {
		t.Fatal("wrong prefix accepted")
	}
}

func TestNewRejectsBadDims(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, dims := range [][]int{nil, {3}, {3, 0}, {-1, 2}} {
		if _, err := New(dims, ReLU, Identity, r); err == nil {
			t.Errorf("dims %v accepted", dims)
		}
	}
	if _, err := New([]int{2, 2}, "gelu", Identity, r); err == nil {
		t.Error("unknown activation accepted")
	}
}
