package weights

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// LoadVarStore fills every variable of vs from the checkpoint weights in dir
// (model.safetensors, else pytorch_model.bin), matching names exactly or
// with a "bert." prefix in the file (BertFor* checkpoints) and accepting the
// old gamma/beta LayerNorm names. Extra tensors in the file (heads, pooler,
// buffers) are ignored. A missing tensor or a shape mismatch is an error
// naming the tensor and the expected shape; vs is unchanged on error.
func LoadVarStore(vs *nn.VarStore, dir string) error {
	tensors, file, err := Read(dir)
	if err != nil {
		return fmt.Errorf("load weights: %w", err)
	}
	vars := vs.Variables()
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)

	// Check and convert everything first, copy after: no half-loaded model.
	values := make(map[string][]float32, len(names))
	for _, name := range names {
		v := vars[name]
		want, err := v.Size()
		if err != nil {
			return fmt.Errorf("load weights: variable %s: %w", name, err)
		}
		r, found := lookupWeight(tensors, name)
		if !found {
			return fmt.Errorf("load weights from %s: missing tensor %s (expected shape %v)", file, name, want)
		}
		if !slices.Equal(r.Shape, want) {
			return fmt.Errorf("load weights from %s: tensor %s has shape %v, expected %v", file, name, r.Shape, want)
		}
		f, err := r.Float32s()
		if err != nil {
			return fmt.Errorf("load weights from %s: tensor %s: %w", file, name, err)
		}
		values[name] = f
	}
	var copyErr error
	noGrad(func() {
		for _, name := range names {
			v := vars[name]
			src, err := ts.OfSlice(values[name])
			if err != nil {
				copyErr = fmt.Errorf("load weights: tensor %s: %w", name, err)
				return
			}
			shaped, err := src.View(v.MustSize(), true)
			if err != nil {
				copyErr = fmt.Errorf("load weights: tensor %s: %w", name, err)
				return
			}
			v.Copy_(shaped)
			shaped.MustDrop()
		}
	})
	runtime.KeepAlive(vs) // vars are copies of vs's tensors
	return copyErr
}

// lookupWeight finds name in a checkpoint under the spellings Hugging Face
// itself accepts.
func lookupWeight(w map[string]Tensor, name string) (Tensor, bool) {
	cands := []string{name, "bert." + name}
	if base, ok := strings.CutSuffix(name, "LayerNorm.weight"); ok {
		cands = append(cands, base+"LayerNorm.gamma", "bert."+base+"LayerNorm.gamma")
	}
	if base, ok := strings.CutSuffix(name, "LayerNorm.bias"); ok {
		cands = append(cands, base+"LayerNorm.beta", "bert."+base+"LayerNorm.beta")
	}
	for _, c := range cands {
		if r, ok := w[c]; ok {
			return r, true
		}
	}
	return Tensor{}, false
}

// noGrad runs fn with libtorch's gradient mode off (the variables of vs
// require gradients, and copying into them must not be recorded). Grad mode
// is thread-local in libtorch, so the goroutine is pinned to its OS thread
// for the duration; the previous mode is restored even if fn panics.
func noGrad(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := ts.GradSetEnabled(false)
	if err == nil {
		defer ts.GradSetEnabled(prev) //nolint:errcheck // restoring a mode cannot fail once setting it worked
	}
	fn()
}
