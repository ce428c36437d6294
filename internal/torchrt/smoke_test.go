package torchrt_test

import (
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/torchrt"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// TestTrainSaveLoad exercises the libtorch path end to end: a linear model
// learns y = 2x+1 with Adam and MSE, is saved, and loads back identically.
func TestTrainSaveLoad(t *testing.T) {
	torchrt.ManualSeed(1)
	vs := nn.NewVarStore(gotch.CPU)
	lin := nn.NewLinear(vs.Root(), 1, 1, nn.DefaultLinearConfig())
	opt, err := nn.DefaultAdamConfig().Build(vs, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	x := ts.MustOfSlice([]float32{-1, 0, 1, 2}).MustView([]int64{4, 1}, true)
	y := ts.MustOfSlice([]float32{-1, 1, 3, 5}).MustView([]int64{4, 1}, true)
	var first, last float64
	for step := 0; step < 300; step++ {
		loss := lin.Forward(x).MustMseLoss(y, 1, true)
		if step == 0 {
			first = loss.Float64Values()[0]
		}
		last = loss.Float64Values()[0]
		opt.BackwardStep(loss)
		loss.MustDrop()
	}
	if !(last < first/100) {
		t.Fatalf("loss did not fall: first %.4f last %.4f", first, last)
	}
	path := filepath.Join(t.TempDir(), "lin.ot")
	if err := vs.Save(path); err != nil {
		t.Fatal(err)
	}
	vs2 := nn.NewVarStore(gotch.CPU)
	lin2 := nn.NewLinear(vs2.Root(), 1, 1, nn.DefaultLinearConfig())
	if err := vs2.Load(path); err != nil {
		t.Fatal(err)
	}
	a := lin.Forward(x).Float64Values()
	b := lin2.Forward(x).Float64Values()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("loaded model differs at %d: %v vs %v", i, a[i], b[i])
		}
	}
}

// TestGradModeRoundTrip guards the setup's fix of gotch's C-int reads: the
// previous grad mode reported by GradSetEnabled must be the real one, or
// code that restores it leaves gradients off.
func TestGradModeRoundTrip(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; i < 100; i++ {
		if _, err := ts.GradSetEnabled(true); err != nil {
			t.Fatal(err)
		}
		prev, err := ts.GradSetEnabled(false)
		if err != nil || !prev {
			t.Fatalf("iteration %d: previous mode %v (want true), err %v", i, prev, err)
		}
		prev, _ = ts.GradSetEnabled(true)
		if prev {
			t.Fatalf("iteration %d: previous mode true after disabling", i)
		}
	}
}

// TestNoGradRestoresTheThreadItRanOn guards the setup's fix of gotch's
// ts.NoGrad (used by nn's weight initialisation): libtorch's grad mode is per
// OS thread, so a NoGrad whose goroutine moved to another thread before
// restoring left gradients off on the first one, and a later training step
// scheduled there failed ("element 0 of tensors does not require grad").
func TestNoGradRestoresTheThreadItRanOn(t *testing.T) {
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				ts.NoGrad(func() { runtime.Gosched() })
			}
		}()
	}
	wg.Wait()
	// Probe the threads: each goroutine locked to one reads the mode it finds.
	var off atomic.Int32
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if prev, err := ts.GradSetEnabled(true); err == nil && !prev {
				off.Add(1)
			}
			time.Sleep(10 * time.Millisecond) // hold the thread so others probe other threads
		}()
	}
	wg.Wait()
	if n := off.Load(); n > 0 {
		t.Fatalf("%d OS threads were left with gradients off by ts.NoGrad", n)
	}
}
