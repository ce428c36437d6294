package encoder

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The fixture in testdata/parity is made by testdata/gen_parity.py (PyTorch
// reference forward and tokenizer); see that script.
const parityDir = "testdata/parity"

type parityRef struct {
	MaxSeqLen int                               `json:"max_seq_len"`
	Sentences []string                          `json:"sentences"`
	IDs       [][]int64                         `json:"ids"`
	Outputs   map[string]map[string][][]float64 `json:"outputs"`
}

func readParityRef(t testing.TB) parityRef {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(parityDir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref parityRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// fixtureDir copies the fixture's config and tokenizer plus one weights file
// (renamed to as) into a fresh directory.
func fixtureDir(t testing.TB, weights, as string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"config.json", "vocab.txt", "tokenizer_config.json"} {
		copyFile(t, filepath.Join(parityDir, f), filepath.Join(dir, f))
	}
	copyFile(t, filepath.Join(parityDir, weights), filepath.Join(dir, as))
	return dir
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEncoderParity(t *testing.T) {
	ref := readParityRef(t)
	cases := []struct{ name, file, as, ref string }{
		{"safetensors-f32", "model.safetensors", "model.safetensors", "f32"},
		{"pytorch_model.bin", "pytorch_model.bin", "pytorch_model.bin", "f32"},
		{"safetensors-f16", "model_f16.safetensors", "model.safetensors", "f16"},
		{"safetensors-bf16", "model_bf16.safetensors", "model.safetensors", "bf16"},
	}
	for _, c := range cases {
		dir := fixtureDir(t, c.file, c.as)
		for _, pooling := range []string{"cls", "mean"} {
			// Batch 3 mixes lengths (padding); batch 1 has none.
			for _, bs := range []int{1, 3, 32} {
				enc, err := Load(dir, Options{Pooling: pooling, MaxSeqLen: ref.MaxSeqLen, BatchSize: bs})
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				got, err := enc.Embed(context.Background(), ref.Sentences)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				want := ref.Outputs[c.ref][pooling]
				worst := 0.0
				for i := range want {
					if len(got[i]) != enc.Dim() || len(want[i]) != enc.Dim() {
						t.Fatalf("%s: dim %d, want %d", c.name, len(got[i]), len(want[i]))
					}
					for j := range want[i] {
						worst = math.Max(worst, math.Abs(float64(got[i][j])-want[i][j]))
					}
				}
				if bs == 3 {
					t.Logf("%s pooling %s: max abs diff %.2g", c.name, pooling, worst)
				}
				if worst > 1e-4 {
					t.Errorf("%s pooling %s batch %d: max abs diff %.3g > 1e-4", c.name, pooling, bs, worst)
				}
				enc.Close()
			}
		}
	}
}
