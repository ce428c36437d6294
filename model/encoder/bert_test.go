package encoder

import (
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/torchrt"
	"github.com/coorlog/coorlogprocessor/model/encoder/tokenizer"
	"github.com/coorlog/coorlogprocessor/model/encoder/weights"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func tinyConfig() BertConfig {
	cfg := DefaultBertConfig(40)
	cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 16, 2, 4, 32
	cfg.MaxPositionEmbeddings = 24
	return cfg
}

// HF BertModel state-dict names (without the pooler) for a 2-layer model.
func hfNames(layers int) []string {
	names := []string{
		"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
		"embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
	}
	for l := 0; l < layers; l++ {
		p := "encoder.layer." + string(rune('0'+l)) + "."
		for _, s := range []string{"attention.self.query", "attention.self.key", "attention.self.value",
			"attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"} {
			names = append(names, p+s+".weight", p+s+".bias")
		}
	}
	return names
}

func TestBertVariableNamesMatchHF(t *testing.T) {
	vs := nn.NewVarStore(gotch.CPU)
	NewBert(vs.Root(), tinyConfig())
	vars := vs.Variables()
	want := hfNames(2)
	if len(vars) != len(want) {
		t.Errorf("got %d variables, want %d", len(vars), len(want))
	}
	for _, n := range want {
		if _, ok := vars[n]; !ok {
			t.Errorf("missing variable %s", n)
		}
	}
}

// Padding must not change the hidden states of real tokens, and dropout
// must only act when training.
func TestBertForwardPaddingAndDropout(t *testing.T) {
	torchrt.ManualSeed(3)
	vs := nn.NewVarStore(gotch.CPU)
	b := NewBert(vs.Root(), tinyConfig())
	short := ts.MustOfSlice([]int64{2, 7, 9, 3}).MustView([]int64{1, 4}, true)
	shortMask := ts.MustOfSlice([]int64{1, 1, 1, 1}).MustView([]int64{1, 4}, true)
	padded := ts.MustOfSlice([]int64{2, 7, 9, 3, 0, 0}).MustView([]int64{1, 6}, true)
	padMask := ts.MustOfSlice([]int64{1, 1, 1, 1, 0, 0}).MustView([]int64{1, 6}, true)
	var a, p, d1, d2 []float32
	ts.NoGrad(func() {
		ha := b.Forward(short, shortMask, false)
		hp := b.Forward(padded, padMask, false)
		a, _, _ = weights.Values(ha)
		p, _, _ = weights.Values(hp)
		ha.MustDrop()
		hp.MustDrop()
		x1 := b.Forward(short, shortMask, true)
		x2 := b.Forward(short, shortMask, true)
		d1, _, _ = weights.Values(x1)
		d2, _, _ = weights.Values(x2)
		x1.MustDrop()
		x2.MustDrop()
	})
	for i := range a { // first 4 positions of the padded run
		if math.Abs(float64(a[i]-p[i])) > 1e-5 {
			t.Fatalf("padding changed real-token state at %d: %v vs %v", i, a[i], p[i])
		}
	}
	same := true
	for i := range d1 {
		if d1[i] != d2[i] {
			same = false
		}
	}
	if same {
		t.Fatal("two training forwards are identical: dropout is not applied")
	}
}

func TestSaveCheckpointRoundTrip(t *testing.T) {
	cfg := tinyConfig()
	vs := nn.NewVarStore(gotch.CPU)
	NewBert(vs.Root(), cfg)
	vars := map[string]*ts.Tensor{}
	for n, v := range vs.Variables() {
		vars[n] = &v
	}
	defer runtime.KeepAlive(vs) // vars point into vs
	vocab := make([]string, cfg.VocabSize)
	for i := range vocab {
		vocab[i] = "w" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	vocab[0], vocab[1], vocab[2], vocab[3], vocab[4] = tokenizer.TokenPad, tokenizer.TokenUnk, tokenizer.TokenCLS, tokenizer.TokenSEP, tokenizer.TokenMask
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := SaveCheckpoint(dir, cfg, vars, vocab); err != nil {
		t.Fatal(err)
	}
	if err := SaveVarStore(dir, cfg, vs, vocab); err != nil { // replaces the first
		t.Fatal(err)
	}
	got, _, err := weights.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	for n, v := range vars {
		want, shape, _ := weights.Values(v)
		r, ok := got[n]
		if !ok {
			t.Fatalf("%s missing from the written file", n)
		}
		vals, err := r.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Shape) != len(shape) || len(vals) != len(want) {
			t.Fatalf("%s: shape %v, want %v", n, r.Shape, shape)
		}
		for i := range vals {
			if vals[i] != want[i] {
				t.Fatalf("%s[%d] = %v, want %v", n, i, vals[i], want[i])
			}
		}
	}
	rc, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rc.HiddenSize != cfg.HiddenSize || rc.NumHiddenLayers != cfg.NumHiddenLayers || !rc.DoLowerCase {
		t.Fatalf("config round trip: %+v", rc)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != len(vocab) || tok.ClsID != 2 {
		t.Fatalf("tokenizer round trip: size %d cls %d", tok.VocabSize(), tok.ClsID)
	}
}
