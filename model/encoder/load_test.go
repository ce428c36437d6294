package encoder

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadMissingAndMismatchedTensors(t *testing.T) {
	// A config that asks for a third layer: the checkpoint has two.
	dir := fixtureDir(t, "model.safetensors", "model.safetensors")
	editConfig(t, dir, func(m map[string]any) { m["num_hidden_layers"] = 3 })
	_, err := Load(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "missing tensor encoder.layer.2.") || !strings.Contains(err.Error(), "expected shape [") {
		t.Fatalf("want a missing-tensor error naming the tensor and shape, got %v", err)
	}

	// A wider intermediate size: shapes disagree.
	dir = fixtureDir(t, "pytorch_model.bin", "pytorch_model.bin")
	editConfig(t, dir, func(m map[string]any) { m["intermediate_size"] = 48 })
	_, err = Load(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "has shape [64], expected [48]") {
		t.Fatalf("want a shape-mismatch error, got %v", err)
	}

	// No weights at all.
	dir = fixtureDir(t, "model.safetensors", "unrelated.bin")
	if _, err = Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "no model.safetensors or pytorch_model.bin") {
		t.Fatalf("want a no-weights error, got %v", err)
	}
}

func TestLoadRejectsBadConfigAndOptions(t *testing.T) {
	dir := fixtureDir(t, "model.safetensors", "model.safetensors")
	for _, c := range []struct {
		edit func(map[string]any)
		want string
	}{
		{func(m map[string]any) { m["hidden_act"] = "relu" }, "hidden_act"},
		{func(m map[string]any) { m["num_attention_heads"] = 5 }, "num_attention_heads"},
		{func(m map[string]any) { m["model_type"] = "roberta" }, "model_type"},
	} {
		d := t.TempDir()
		for _, f := range []string{"config.json", "vocab.txt", "tokenizer_config.json", "model.safetensors"} {
			copyFile(t, filepath.Join(dir, f), filepath.Join(d, f))
		}
		editConfig(t, d, c.edit)
		if _, err := Load(d, Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error about %s, got %v", c.want, err)
		}
	}
	if _, err := Load(dir, Options{Pooling: "max"}); err == nil || !strings.Contains(err.Error(), "pooling") {
		t.Errorf("want a pooling error, got %v", err)
	}
	if _, err := Load(dir, Options{MaxSeqLen: 1}); err == nil {
		t.Error("max_seq_len 1 accepted")
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o644)
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("want a config parse error, got %v", err)
	}
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Truncated and corrupted weight files must give an error (or, for a flip
// inside the tensor data, a model) but never a panic.
func TestLoadCorruptWeightsNeverPanics(t *testing.T) {
	for _, name := range []string{"model.safetensors", "pytorch_model.bin"} {
		orig, err := os.ReadFile(filepath.Join(parityDir, name))
		if err != nil {
			t.Fatal(err)
		}
		dir := fixtureDir(t, name, name)
		path := filepath.Join(dir, name)
		try := func(what string, data []byte, mustFail bool) {
			t.Helper()
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			var w map[string]rawTensor
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s %s: panic: %v", name, what, r)
					}
				}()
				w, _, err = readWeights(dir)
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
		if _, err := Load(dir, Options{}); err != nil {
			t.Fatalf("%s: the restored file no longer loads: %v", name, err)
		}
	}
	// A huge declared safetensors header length is refused before allocation.
	dir := fixtureDir(t, "model.safetensors", "model.safetensors")
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "header length") {
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
