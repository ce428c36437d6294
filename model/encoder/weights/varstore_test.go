package weights

import (
	"slices"
	"testing"
)

// The fixture's pytorch_model.bin ("bert." prefix, an MLM head, buffers)
// holds the same BertModel weights as its model.safetensors, and every one
// is found under the name the model asks for.
func TestTorchBinMatchesSafetensorsByName(t *testing.T) {
	st, _, err := Read(weightsDir(t, "model.safetensors", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	bin, _, err := Read(weightsDir(t, "pytorch_model.bin", "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range st {
		got, ok := lookupWeight(bin, name)
		if !ok {
			t.Fatalf("%s: not found in pytorch_model.bin", name)
		}
		a, err1 := want.Float32s()
		b, err2 := got.Float32s()
		if err1 != nil || err2 != nil || !slices.Equal(want.Shape, got.Shape) || !slices.Equal(a, b) {
			t.Fatalf("%s: safetensors %v %v, bin %v %v", name, want.Shape, err1, got.Shape, err2)
		}
	}
}

func TestLookupWeightSpellings(t *testing.T) {
	w := map[string]Tensor{
		"bert.embeddings.word_embeddings.weight":     {DType: "F32"},
		"encoder.layer.0.output.LayerNorm.gamma":     {DType: "F16"},
		"bert.encoder.layer.1.output.LayerNorm.beta": {DType: "BF16"},
	}
	for name, dtype := range map[string]string{
		"embeddings.word_embeddings.weight":       "F32",
		"encoder.layer.0.output.LayerNorm.weight": "F16",
		"encoder.layer.1.output.LayerNorm.bias":   "BF16",
	} {
		if r, ok := lookupWeight(w, name); !ok || r.DType != dtype {
			t.Errorf("%s: got %v %v, want the %s tensor", name, r.DType, ok, dtype)
		}
	}
	if _, ok := lookupWeight(w, "encoder.layer.0.output.dense.weight"); ok {
		t.Error("found a tensor that is not there")
	}
}
