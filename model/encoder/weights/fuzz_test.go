package weights

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUnpickle: any data.pkl gives a value or an error, never a panic.
func FuzzUnpickle(f *testing.F) {
	zr, err := zip.OpenReader(filepath.Join(parityDir, "pytorch_model.bin"))
	if err != nil {
		f.Fatal(err)
	}
	for _, zf := range zr.File {
		if filepath.Base(zf.Name) == "data.pkl" {
			rc, err := zf.Open()
			if err != nil {
				f.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	zr.Close()
	f.Add([]byte("\x80\x02}q\x00."))
	f.Add([]byte("(((((t"))
	f.Fuzz(func(t *testing.T, data []byte) {
		unpickle(data) //nolint:errcheck // only panics matter
	})
}

// FuzzSafetensors: any model.safetensors gives tensors or an error, never a
// panic, and what it gives is consistent with its header.
func FuzzSafetensors(f *testing.F) {
	orig, err := os.ReadFile(filepath.Join(parityDir, "model.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig[:4096])
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"F32\"}}"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "model.safetensors")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := readSafetensors(p)
		if err != nil {
			return
		}
		for name, r := range w {
			if sz := dtypeSize(r.DType); sz != 0 && int64(len(r.Data)) != r.numel()*int64(sz) {
				t.Fatalf("%s: %d bytes for %s %v", name, len(r.Data), r.DType, r.Shape)
			}
			r.Float32s() //nolint:errcheck // only panics matter
		}
	})
}
