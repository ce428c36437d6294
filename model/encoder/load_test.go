package encoder

import (
	"encoding/json"
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
