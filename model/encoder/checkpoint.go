package encoder

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/coorlog/coorlogprocessor/model/encoder/tokenizer"
	"github.com/coorlog/coorlogprocessor/model/encoder/weights"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// SaveCheckpoint writes a Hugging Face BERT checkpoint directory: config.json,
// model.safetensors (float32, the given variable names as they are),
// vocab.txt and tokenizer_config.json. The directory is written next to dir
// and renamed into place, so readers see the old checkpoint or the new one,
// never a mixture; an existing dir is replaced.
func SaveCheckpoint(dir string, cfg BertConfig, vars map[string]*ts.Tensor, vocab []string) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	if len(vocab) != cfg.VocabSize {
		return fmt.Errorf("save checkpoint %s: vocabulary has %d tokens, config says vocab_size %d", dir, len(vocab), cfg.VocabSize)
	}
	vocabTxt, err := tokenizer.VocabFile(vocab)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	cfgJSON, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: config: %w", dir, err)
	}
	tokCfg, err := tokenizer.ConfigFile(cfg.DoLowerCase, cfg.MaxPositionEmbeddings)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: tokenizer config: %w", dir, err)
	}
	files := []weights.File{
		{Name: "config.json", Data: append(cfgJSON, '\n')},
		{Name: "tokenizer_config.json", Data: tokCfg},
		{Name: "vocab.txt", Data: vocabTxt},
	}
	if err := weights.WriteCheckpoint(dir, files, vars); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	return nil
}

// SaveVarStore is SaveCheckpoint for every variable of vs (names relative to
// its root). It keeps vs alive while reading: the tensors that
// VarStore.Variables returns are freed by vs's finalizers once vs is
// unreachable.
func SaveVarStore(dir string, cfg BertConfig, vs *nn.VarStore, vocab []string) error {
	vars := vs.Variables()
	ptrs := make(map[string]*ts.Tensor, len(vars))
	for n, v := range vars {
		ptrs[n] = &v
	}
	err := SaveCheckpoint(dir, cfg, ptrs, vocab)
	runtime.KeepAlive(vs)
	return err
}
