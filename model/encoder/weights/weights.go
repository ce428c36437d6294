// Package weights reads and writes the weight files of Hugging Face
// checkpoint directories: model.safetensors (F32/F16/BF16/F64) and
// pytorch_model.bin (torch.save zip, read by a small pickle machine that
// executes nothing), fills a gotch VarStore from them by name, and writes a
// checkpoint directory atomically. It knows tensors and names, not models:
// which names a BERT has is package encoder's business.
package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

var errNoWeights = errors.New("no model.safetensors or pytorch_model.bin")

// Read reads the tensors of dir/model.safetensors, or of
// dir/pytorch_model.bin when there is no safetensors file, and returns the
// path it read.
func Read(dir string) (map[string]Tensor, string, error) {
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

// Tensor is a tensor as stored in a checkpoint file: dtype name, shape and
// little-endian bytes.
type Tensor struct {
	DType string // "F32", "F16", "BF16", "F64", "I64", ...
	Shape []int64
	Data  []byte
}

func (r Tensor) numel() int64 {
	n := int64(1)
	for _, d := range r.Shape {
		n *= d
	}
	return n
}

// dtypeSize is the element size of the dtypes we can read; 0 for others.
func dtypeSize(dtype string) int {
	switch dtype {
	case "F32", "I32":
		return 4
	case "F16", "BF16", "I16":
		return 2
	case "F64", "I64":
		return 8
	case "U8", "I8", "BOOL":
		return 1
	}
	return 0
}

// Float32s converts a floating-point tensor to float32 (F32, F16, BF16,
// F64).
func (r Tensor) Float32s() ([]float32, error) {
	n := r.numel()
	sz := dtypeSize(r.DType)
	if sz == 0 || int64(len(r.Data)) != n*int64(sz) {
		return nil, fmt.Errorf("dtype %s, shape %v: %d data bytes", r.DType, r.Shape, len(r.Data))
	}
	out := make([]float32, n)
	d := r.Data
	switch r.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	case "F16":
		for i := range out {
			out[i] = halfToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16)
		}
	default:
		return nil, fmt.Errorf("dtype %s is not a floating-point type", r.DType)
	}
	return out, nil
}

// halfToFloat32 converts IEEE 754 binary16 bits to float32 exactly
// (subnormals, infinities and NaN included).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: value = frac * 2^-24
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}
