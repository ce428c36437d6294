package encoder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// readWeights reads dir/model.safetensors, or dir/pytorch_model.bin when
// there is no safetensors file.
func readWeights(dir string) (map[string]rawTensor, string, error) {
	st := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(st); err == nil {
		w, err := readSafetensors(st)
		return w, st, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, st, err
	}
	bin := filepath.Join(dir, "pytorch_model.bin")
	if _, err := os.Stat(bin); err == nil {
		w, err := readTorchBin(bin)
		return w, bin, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, bin, err
	}
	return nil, dir, fmt.Errorf("%s: %w", dir, errNoWeights)
}

// LoadVarStore fills every variable of vs from the checkpoint weights in dir
// (model.safetensors, else pytorch_model.bin), matching names exactly or
// with a "bert." prefix in the file (BertFor* checkpoints) and accepting the
// old gamma/beta LayerNorm names. Extra tensors in the file (heads, pooler,
// buffers) are ignored. A missing tensor or a shape mismatch is an error
// naming the tensor and the expected shape; vs is unchanged on error.
func LoadVarStore(vs *nn.VarStore, dir string) error {
	weights, file, err := readWeights(dir)
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
		r, found := lookupWeight(weights, name)
		if !found {
			return fmt.Errorf("load weights from %s: missing tensor %s (expected shape %v)", file, name, want)
		}
		if !slices.Equal(r.Shape, want) {
			return fmt.Errorf("load weights from %s: tensor %s has shape %v, expected %v", file, name, r.Shape, want)
		}
		f, err := r.float32s()
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
func lookupWeight(w map[string]rawTensor, name string) (rawTensor, bool) {
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
	return rawTensor{}, false
}
