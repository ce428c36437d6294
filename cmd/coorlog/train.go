package main

import (
	"context"
	"fmt"
	"github.com/coorlog/coorlogprocessor/internal/compose"
	"io"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", stderr)
	trainF := fs.String("train", "", "labelled JSONL training sessions (required)")
	validF := fs.String("valid", "", "labelled JSONL validation sessions for tau (default: split from --train)")
	out := fs.String("out", "", "model directory to write (required)")
	encDir := fs.String("encoder", "", "encoder checkpoint directory (default: the shipped default encoder)")
	validFrac := fs.Float64("valid-frac", 0.1, "without --valid: share of each label of --train held out for tau")
	seed := fs.Int64("seed", 1, "seed of every training step")
	threads := fs.Int("threads", 0, "libtorch intra-op threads (0 = libtorch default)")
	quantile := fs.Float64("quantile", 0, "tau = this quantile of the validation sessions' reconstruction error, also after each AEM fine-tune (0 = the coordinator's default, 0.95)")
	lexDims := fs.Int("lexical-dims", 0, "width of the session vectors' lexical half, TF-IDF of masked tokens (0 = 256, -1 = none)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "train", "out"); err != nil {
		return err
	}
	if err := checkRate("valid-frac", *validFrac); err != nil {
		return err
	}
	if q := *quantile; q != 0 && !(q > 0 && q < 1) {
		return fmt.Errorf("%w: --quantile %v must be in (0, 1)", errUsage, q)
	}
	train, err := dataset.ReadFile(*trainF)
	if err != nil {
		return err
	}
	var valid []dataset.Session
	if *validF != "" {
		if valid, err = dataset.ReadFile(*validF); err != nil {
			return err
		}
	} else {
		if train, valid, err = dataset.Split(train, 1-*validFrac, uint64(*seed)); err != nil {
			return err
		}
	}
	if len(train) == 0 || len(valid) == 0 {
		return fmt.Errorf("training needs sessions in both the training (%d) and validation (%d) sets", len(train), len(valid))
	}
	ref := *encDir
	if ref == "" {
		ref = compose.DefaultEncoder
	}
	enc, closeEnc, err := loadEncoder(ref, *threads)
	if err != nil {
		return err
	}
	defer closeEnc()
	b, err := trainBundle(ctx, train, valid, newCache(enc), ref, *seed, *quantile, *lexDims, stderr)
	if err != nil {
		return err
	}
	path, err := bundle.Save(*out, b)
	if err != nil {
		return fmt.Errorf("saving the model: %w", err)
	}
	m := b.Manifest
	n, a := dataset.Counts(train)
	fmt.Fprintf(stdout, "wrote %s (model version %s)\n", path, m.ModelVersion)
	fmt.Fprintf(stdout, "trained on %d sessions (%d normal, %d anomalous), tau %.5g (quantile %.2f) from %d validation sessions\n",
		len(train), n, a, b.Coordinator.Tau(), b.Coordinator.Config().Quantile, len(valid))
	cc := b.Memory.ClassCounts()
	fmt.Fprintf(stdout, "kNN memory: %d items (%d normal, %d anomalous; identical sessions merged)\n", b.Memory.Len(), cc[0], cc[1])
	t := m.Training
	fmt.Fprintf(stdout, "time: encoding %.1fs, coordinator %.1fs, small model %.1fs\n", t.EncodeSeconds, t.CoordinatorSeconds, t.SmallModelSeconds)
	return nil
}
