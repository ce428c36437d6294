package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/coorlog/coorlogprocessor/internal/shareddata"
	"github.com/coorlog/coorlogprocessor/model/pretrain"
)

func runPretrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pretrain", stderr)
	var o pretrain.Options
	fs.StringVar(&o.Corpus, "corpus", "", "log file or directory of *.log files (default: the shared loghub/ corpus)")
	fs.StringVar(&o.Out, "out", "", "output directory: model/ (HF checkpoint), train/ (resume state), history.csv, loss.png (required)")
	fs.IntVar(&o.Epochs, "epochs", 0, "masked-language-modelling passes over the distinct lines (0 = 6)")
	fs.IntVar(&o.ContrastiveEpochs, "contrastive-epochs", 0, "contrastive passes after MLM (0 = 3, negative = skip the stage)")
	fs.IntVar(&o.BatchSize, "batch", 0, "lines per step (0 = 32)")
	fs.Float64Var(&o.LR, "lr", 0, "peak learning rate (0 = 1e-3)")
	fs.IntVar(&o.VocabSize, "vocab", 0, "WordPiece vocabulary size (0 = 3000)")
	fs.IntVar(&o.Hidden, "hidden", 0, "hidden size (0 = 128)")
	fs.IntVar(&o.Layers, "layers", 0, "encoder layers (0 = 2)")
	fs.IntVar(&o.Heads, "heads", 0, "attention heads (0 = 4)")
	fs.IntVar(&o.MaxSeqLen, "max-seq-len", 0, "tokens per line (0 = 64)")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of weights, shuffling and masking (0 = 1)")
	fs.IntVar(&o.Threads, "threads", 0, "libtorch intra-op threads (0 = libtorch default)")
	fs.BoolVar(&o.Resume, "resume", false, "continue from OUT/train/state.json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "out"); err != nil {
		return err
	}
	if o.Corpus == "" {
		d, err := shareddata.Dir()
		if err != nil {
			return fmt.Errorf("no --corpus given and %w", err)
		}
		o.Corpus = filepath.Join(d, "loghub")
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := pretrain.Run(ctx, o, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (checkpoint in %s)\n", o.Out, filepath.Join(o.Out, "model"))
	return nil
}
