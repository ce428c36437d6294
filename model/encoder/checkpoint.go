package encoder

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sugarme/gotch"
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
	for i, tok := range vocab {
		if tok == "" || strings.ContainsAny(tok, "\r\n") {
			return fmt.Errorf("save checkpoint %s: vocabulary token %d (%q) is empty or holds a line break", dir, i, tok)
		}
	}
	tensors := make([]f32Tensor, 0, len(vars))
	for name, t := range vars {
		data, shape, err := tensorToF32(t)
		if err != nil {
			return fmt.Errorf("save checkpoint %s: tensor %s: %w", dir, name, err)
		}
		tensors = append(tensors, f32Tensor{Name: name, Shape: shape, Data: data})
	}

	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp) // no-op after the rename

	cfgJSON, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: config: %w", dir, err)
	}
	tokCfg, err := json.MarshalIndent(map[string]any{
		"tokenizer_class":  "BertTokenizer",
		"do_lower_case":    cfg.DoLowerCase,
		"model_max_length": cfg.MaxPositionEmbeddings,
		"unk_token":        TokenUnk, "sep_token": TokenSEP, "pad_token": TokenPad,
		"cls_token": TokenCLS, "mask_token": TokenMask,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: tokenizer config: %w", dir, err)
	}
	steps := []struct {
		name  string
		write func(*bufio.Writer) error
	}{
		{"config.json", func(w *bufio.Writer) error { _, err := w.Write(append(cfgJSON, '\n')); return err }},
		{"tokenizer_config.json", func(w *bufio.Writer) error { _, err := w.Write(append(tokCfg, '\n')); return err }},
		{"vocab.txt", func(w *bufio.Writer) error {
			for _, tok := range vocab {
				if _, err := w.WriteString(tok + "\n"); err != nil {
					return err
				}
			}
			return nil
		}},
		{"model.safetensors", func(w *bufio.Writer) error { return writeSafetensors(w, tensors) }},
	}
	for _, s := range steps {
		if err := writeFileSynced(filepath.Join(tmp, s.name), s.write); err != nil {
			return fmt.Errorf("save checkpoint %s: %s: %w", dir, s.name, err)
		}
	}

	// Swap: a directory cannot be renamed over a non-empty one, so the old
	// one steps aside first and is removed after the new one is in place.
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("save checkpoint %s: move old checkpoint aside: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir) // put the old one back
		}
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	if old != "" {
		_ = os.RemoveAll(old)
	}
	if d, err := os.Open(parent); err == nil {
		_ = d.Sync()
		d.Close()
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

func writeFileSynced(path string, write func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tensorToF32 copies a tensor's values (detached, as float32, on the CPU)
// into Go memory.
func tensorToF32(t *ts.Tensor) ([]float32, []int64, error) {
	if t == nil || t.Ctensor() == nil {
		return nil, nil, fmt.Errorf("nil or freed tensor")
	}
	shape, err := t.Size()
	if err != nil {
		return nil, nil, err
	}
	d, err := t.Detach(false)
	if err != nil {
		return nil, nil, err
	}
	defer d.MustDrop()
	c, err := d.To(gotch.CPU, false)
	if err != nil {
		return nil, nil, err
	}
	defer c.MustDrop()
	f, err := c.Totype(gotch.Float, false)
	if err != nil {
		return nil, nil, err
	}
	defer f.MustDrop()
	g, err := f.Contiguous(false)
	if err != nil {
		return nil, nil, err
	}
	defer g.MustDrop()
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	out := make([]float32, n)
	if n > 0 {
		if err := g.CopyData(out, uint(n)); err != nil {
			return nil, nil, err
		}
	}
	return out, shape, nil
}
