package mlp

import (
	"math"
	"math/rand"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/internal/wire"
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
			got := make([]float32, 5*16)
			if err := tr.Eval(func(g *Graph) T {
				return tr.Forward(g, g.Input(Rows(rows, []int{0, 1, 2, 3, 4}, 16, nil), 5, 16))
			}, got); err != nil {
				return err
			}
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
		x := Rows(rows, []int{0, 1, 2, 3}, 2, nil)
		for range 300 {
			if _, err := tr.Step(func(g *Graph) T {
				return g.MSE(tr.Forward(g, g.Input(x, 4, 2)), g.Input(target, 4, 1))
			}); err != nil {
				return err
			}
		}
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

// A libtorch failure inside a step (here: mismatched shapes) is an error,
// not a crash, and the trainer stays usable.
func TestStepError(t *testing.T) {
	n, _ := New([]int{2, 2}, ReLU, Identity, rand.New(rand.NewSource(1)))
	err := Locked(func() error {
		tr, err := NewTrainer(n, 0.01)
		if err != nil {
			return err
		}
		defer tr.Close()
		_, err = tr.Step(func(g *Graph) T {
			return g.MSE(tr.Forward(g, g.Input([]float32{1, 2, 3}, 1, 3)), g.Input([]float32{1, 2}, 1, 2))
		})
		if err == nil {
			t.Error("shape mismatch not reported")
		}
		_, err = tr.Step(func(g *Graph) T {
			return g.MSE(tr.Forward(g, g.Input([]float32{1, 2}, 1, 2)), g.Input([]float32{1, 2}, 1, 2))
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func rssKB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return kb
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// AEM fine-tunes a running collector again and again: a training step must
// not leak (gotch's Go tensor API leaks a malloc per op, which this package
// avoids). 20,000 steps of ~12 ops would leak several MB through it.
func TestStepsDoNotLeak(t *testing.T) {
	n, _ := New([]int{8, 8, 8}, ReLU, Identity, rand.New(rand.NewSource(1)))
	x := make([]float32, 4*8)
	for i := range x {
		x[i] = float32(i%5) / 5
	}
	run := func(steps int) error {
		return Locked(func() error {
			tr, err := NewTrainer(n, 1e-3)
			if err != nil {
				return err
			}
			defer tr.Close()
			for range steps {
				if _, err := tr.Step(func(g *Graph) T {
					in := g.Input(x, 4, 8)
					return g.MSE(tr.Forward(g, in), in)
				}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := run(2000); err != nil { // warm up allocator and libtorch
		t.Fatal(err)
	}
	settle := func() int {
		runtime.GC()
		debug.FreeOSMemory()
		return rssKB(t)
	}
	before := settle()
	// As AEM does: a new trainer per fine-tuning, many steps each.
	for range 10 {
		if err := run(2000); err != nil {
			t.Fatal(err)
		}
	}
	grew := settle() - before
	t.Logf("RSS grew %d kB over 10 trainers and 20,000 steps", grew)
	// Allocator noise here is 0.5-1.5 MB; the leak this guards against
	// (gotch's Go API, ~1.3 kB per step) would be ~26 MB.
	if grew > 8<<10 {
		t.Fatalf("RSS grew %d kB over 20,000 steps: a per-step leak", grew)
	}
}
