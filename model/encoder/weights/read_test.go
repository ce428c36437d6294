package weights

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The encoder's parity fixture (../testdata/gen_parity.py) holds the same
// weights as model.safetensors (F32, F16, BF16) and pytorch_model.bin.
const parityDir = "../testdata/parity"

// weightsDir copies one weights file of the fixture (renamed to as) into a
// fresh directory.
func weightsDir(t testing.TB, file, as string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(parityDir, file))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, as), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Truncated and corrupted weight files must give an error (or, for a flip
// inside the tensor data, a model) but never a panic.
func TestReadCorruptWeightsNeverPanics(t *testing.T) {
	for _, name := range []string{"model.safetensors", "pytorch_model.bin"} {
		orig, err := os.ReadFile(filepath.Join(parityDir, name))
		if err != nil {
			t.Fatal(err)
		}
		dir := weightsDir(t, name, name)
		path := filepath.Join(dir, name)
		try := func(what string, data []byte, mustFail bool) {
			t.Helper()
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			var w map[string]Tensor
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s %s: panic: %v", name, what, r)
					}
				}()
				w, _, err = Read(dir)
			}()
			if mustFail && err == nil {
				t.Fatalf("%s %s: no error (%d tensors)", name, what, len(w))
			}
		}
		// Every truncation point in the first 256 bytes, then strides
		// through the headers and the data.
		for n := 0; n < len(orig); {
			try("truncated", orig[:n], true)
			switch {
			case n < 256:
				n++
			case n < 8192:
				n += 61
			default:
				n += 997
			}
		}
		try("empty", nil, true)
		try("garbage", []byte(strings.Repeat("garbage!", 100)), true)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 200; i++ {
			bad := append([]byte(nil), orig...)
			for k := 0; k < 1+rng.IntN(4); k++ {
				bad[rng.IntN(min(len(bad), 8192))] ^= byte(1 + rng.IntN(255))
			}
			try("bit flips", bad, false)
		}
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		if w, _, err := Read(dir); err != nil || len(w) == 0 {
			t.Fatalf("%s: the restored file no longer reads: %d tensors, %v", name, len(w), err)
		}
	}
	// A huge declared safetensors header length is refused before allocation.
	dir := weightsDir(t, "model.safetensors", "model.safetensors")
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "header length") {
		t.Fatalf("want a header length error, got %v", err)
	}
}

func TestHalfToFloat32(t *testing.T) {
	for _, c := range []struct {
		bits uint16
		want float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08}, {0x0000, 0}, {0x3555, 0.333251953125},
	} {
		if got := halfToFloat32(c.bits); got != c.want {
			t.Errorf("half %#04x = %v, want %v", c.bits, got, c.want)
		}
	}
}
