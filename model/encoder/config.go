// Package encoder is a BERT sentence encoder on libtorch (gotch): the model
// (Bert, built from one small type per block of Hugging Face's BertModel),
// Encoder (the model.Encoder used by the detector), Load for a Hugging Face
// checkpoint directory and SaveCheckpoint for the same layout. The weight
// files are read and written by package weights beneath it, the WordPiece
// tokenizer is package tokenizer.
package encoder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coorlog/coorlogprocessor/model/encoder/tokenizer"
)

// BertConfig mirrors the fields of a Hugging Face BERT config.json that
// change the forward pass. Unknown fields in config.json are ignored.
type BertConfig struct {
	ModelType                 string   `json:"model_type,omitempty"`
	Architectures             []string `json:"architectures,omitempty"`
	VocabSize                 int      `json:"vocab_size"`
	HiddenSize                int      `json:"hidden_size"`
	NumHiddenLayers           int      `json:"num_hidden_layers"`
	NumAttentionHeads         int      `json:"num_attention_heads"`
	IntermediateSize          int      `json:"intermediate_size"`
	HiddenAct                 string   `json:"hidden_act"`
	HiddenDropoutProb         float64  `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64  `json:"attention_probs_dropout_prob"`
	MaxPositionEmbeddings     int      `json:"max_position_embeddings"`
	TypeVocabSize             int      `json:"type_vocab_size"`
	InitializerRange          float64  `json:"initializer_range"`
	LayerNormEps              float64  `json:"layer_norm_eps"`
	PadTokenID                int      `json:"pad_token_id"`
	PositionEmbeddingType     string   `json:"position_embedding_type,omitempty"`

	// DoLowerCase belongs to the tokenizer. Hugging Face keeps it in
	// tokenizer_config.json; ReadConfig takes it from there when present,
	// else from config.json, else true (BertTokenizer's default).
	DoLowerCase bool `json:"do_lower_case"`
}

// DefaultBertConfig returns Hugging Face's BertConfig defaults (bert-base
// shape) with the given vocabulary size.
func DefaultBertConfig(vocabSize int) BertConfig {
	return BertConfig{
		ModelType:                 "bert",
		Architectures:             []string{"BertModel"},
		VocabSize:                 vocabSize,
		HiddenSize:                768,
		NumHiddenLayers:           12,
		NumAttentionHeads:         12,
		IntermediateSize:          3072,
		HiddenAct:                 "gelu",
		HiddenDropoutProb:         0.1,
		AttentionProbsDropoutProb: 0.1,
		MaxPositionEmbeddings:     512,
		TypeVocabSize:             2,
		InitializerRange:          0.02,
		LayerNormEps:              1e-12,
		PadTokenID:                0,
		PositionEmbeddingType:     "absolute",
		DoLowerCase:               true,
	}
}

// Validate reports the first field that makes the configuration unusable.
func (c BertConfig) Validate() error {
	switch {
	case c.ModelType != "" && c.ModelType != "bert":
		return fmt.Errorf("model_type %q: only \"bert\" is supported", c.ModelType)
	case c.VocabSize <= 0:
		return fmt.Errorf("vocab_size must be > 0, got %d", c.VocabSize)
	case c.HiddenSize <= 0:
		return fmt.Errorf("hidden_size must be > 0, got %d", c.HiddenSize)
	case c.NumHiddenLayers <= 0:
		return fmt.Errorf("num_hidden_layers must be > 0, got %d", c.NumHiddenLayers)
	case c.NumAttentionHeads <= 0 || c.HiddenSize%c.NumAttentionHeads != 0:
		return fmt.Errorf("num_attention_heads (%d) must divide hidden_size (%d)", c.NumAttentionHeads, c.HiddenSize)
	case c.IntermediateSize <= 0:
		return fmt.Errorf("intermediate_size must be > 0, got %d", c.IntermediateSize)
	case c.HiddenAct != "gelu":
		// HF's "gelu" is the exact erf form; the tanh and other variants
		// would silently change outputs, so they are refused.
		return fmt.Errorf("hidden_act %q: only \"gelu\" (exact, erf) is supported", c.HiddenAct)
	case c.MaxPositionEmbeddings < 2:
		return fmt.Errorf("max_position_embeddings must be >= 2, got %d", c.MaxPositionEmbeddings)
	case c.TypeVocabSize <= 0:
		return fmt.Errorf("type_vocab_size must be > 0, got %d", c.TypeVocabSize)
	case !(c.LayerNormEps > 0):
		return fmt.Errorf("layer_norm_eps must be > 0, got %g", c.LayerNormEps)
	case c.PositionEmbeddingType != "" && c.PositionEmbeddingType != "absolute":
		return fmt.Errorf("position_embedding_type %q: only \"absolute\" is supported", c.PositionEmbeddingType)
	case c.HiddenDropoutProb < 0 || c.HiddenDropoutProb >= 1 || c.AttentionProbsDropoutProb < 0 || c.AttentionProbsDropoutProb >= 1:
		return fmt.Errorf("dropout probabilities must be in [0,1), got hidden %g attention %g", c.HiddenDropoutProb, c.AttentionProbsDropoutProb)
	}
	return nil
}

// HeadDim is the width of one attention head.
func (c BertConfig) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// ReadConfig reads dir/config.json (and do_lower_case from
// dir/tokenizer_config.json when that file exists) and validates it. Fields
// missing from config.json take Hugging Face's defaults.
func ReadConfig(dir string) (BertConfig, error) {
	path := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return BertConfig{}, fmt.Errorf("read BERT config: %w", err)
	}
	// Start from HF defaults so that a config.json written by an older
	// transformers (no layer_norm_eps, say) means what it meant there.
	cfg := DefaultBertConfig(0)
	cfg.Architectures = nil
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return BertConfig{}, fmt.Errorf("parse %s: %w", path, err)
	}
	lower, ok, err := readDoLowerCase(dir)
	if err != nil {
		return BertConfig{}, err
	}
	if ok {
		cfg.DoLowerCase = lower
	}
	if err := cfg.Validate(); err != nil {
		return BertConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func readDoLowerCase(dir string) (lower, ok bool, err error) {
	tc, found, err := tokenizer.ReadConfig(dir)
	if err != nil || !found || tc.DoLowerCase == nil {
		return false, false, err
	}
	return *tc.DoLowerCase, true, nil
}
