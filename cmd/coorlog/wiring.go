package main

// The seams to the model side: encoder loading, training, the cascade and the
// LLM stage, built through internal/compose as the collector builds them.
// Everything else in this command talks to them only through these functions.

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/compose"
	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/llm"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

func newCache(enc model.Encoder) model.Encoder { return compose.Cached(enc, 0) }

// loadEncoder opens the encoder named by a bundle (compose.Encoder).
func loadEncoder(ref string, threads int) (model.Encoder, func(), error) {
	e, err := compose.Encoder(ref, encoder.Options{Threads: threads})
	if err != nil {
		return nil, nil, err
	}
	return e, func() { e.Close() }, nil
}

// trainBundle trains coordinator, small model and memory (model.Train).
// quantile 0 keeps the coordinator's default; lexDims is
// model.TrainOptions.LexicalDims.
func trainBundle(ctx context.Context, train, valid []dataset.Session, enc model.Encoder, ref string, seed int64, quantile float64, lexDims int, stderr io.Writer) (*bundle.Bundle, error) {
	opts := model.TrainOptions{Encoder: bundle.EncoderRef{Name: ref}, LexicalDims: lexDims}
	opts.Coordinator.Seed = seed
	opts.Coordinator.Quantile = quantile
	opts.Small.Seed = seed
	return model.Train(ctx, enc, labelled(train), labelled(valid), opts, stderr)
}

func labelled(ss []dataset.Session) []model.LabelledSession {
	out := make([]model.LabelledSession, len(ss))
	for i, s := range ss {
		out[i] = model.LabelledSession{ID: s.ID, Label: s.Label, Lines: s.Lines}
	}
	return out
}

// defaultAEMBatch is the number of LLM findings per AEM update in eval and
// bench: the evolve package's default.
var defaultAEMBatch = evolve.DefaultConfig().BatchSize

// newCascade builds the CoorLog detector (model.Cascade) over a bundle. With
// aemBatch > 0, the adaptive evolution mechanism learns from the LLM's
// findings. The processor runs AEM in the background; here updates are
// applied in line, every aemBatch findings, so that a run is deterministic
// and repeatable. close applies what is still pending.
func newCascade(ctx context.Context, b *bundle.Bundle, enc model.Encoder, judge model.Judge, aemBatch int) (*cascadeRun, func() error, error) {
	c, err := compose.Cascade(b, model.CascadeOptions{Encoder: enc, Judge: judge})
	if err != nil {
		return nil, nil, err
	}
	r, closeRun := runCascade(ctx, c, aemBatch)
	return r, closeRun, nil
}

// runCascade wraps a cascade for a run, with in-line AEM when aemBatch > 0
// (see newCascade); close applies what is still pending.
func runCascade(ctx context.Context, c *model.Cascade, aemBatch int) (*cascadeRun, func() error) {
	r := &cascadeRun{c: c, batch: aemBatch}
	if aemBatch <= 0 {
		return r, func() error { return nil }
	}
	r.upd = c.EnableAEM(evolve.Config{BatchSize: aemBatch, Seed: 1}, nil)
	return r, func() error { return r.flush(ctx) }
}

// cascadeRun is a Cascade with in-line AEM updates.
type cascadeRun struct {
	c       *model.Cascade
	upd     *evolve.Updater
	batch   int
	aemTime time.Duration
}

func (r *cascadeRun) Detect(ctx context.Context, s model.Session) (model.Verdict, error) {
	v, err := r.c.Detect(ctx, s)
	if err == nil && r.upd != nil && r.upd.Stats().Pending >= r.batch {
		err = r.flush(ctx)
	}
	return v, err
}

func (r *cascadeRun) flush(ctx context.Context) error {
	if r.upd == nil {
		return nil
	}
	t0 := time.Now()
	err := r.upd.Flush(ctx)
	r.aemTime += time.Since(t0)
	if err != nil {
		return fmt.Errorf("AEM update: %w", err)
	}
	return nil
}

// aemStats says what AEM did, for the report.
func (r *cascadeRun) aemStats() (updates int, seconds float64) {
	if r.upd == nil {
		return 0, 0
	}
	return r.c.Snapshot().Updates, r.aemTime.Seconds()
}

// buildJudge returns the LLM stage the flags select. The simulated LLM
// answers from the labels of the sessions being evaluated; in content mode
// its errors follow normalize.ContentKey.
func buildJudge(lf *llmFlags, test []dataset.Session, seed int64) (model.Judge, error) {
	if lf.simulated {
		labels := make(map[string]int, len(test))
		for _, s := range test {
			labels[s.ID] = s.Label
		}
		if lf.content {
			contents := make(map[string]string, len(test))
			for _, s := range test {
				contents[s.ID] = normalize.ContentKey(s.Lines)
			}
			return llm.NewSimulatedContent(labels, contents, lf.accuracy, seed), nil
		}
		return llm.NewSimulated(labels, lf.accuracy, seed), nil
	}
	cfg := llm.DefaultConfig()
	cfg.BaseURL, cfg.Model = lf.endpoint, lf.model
	cfg.APIKey = os.Getenv(llmKeyEnv)
	j, err := compose.Judge(cfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the LLM endpoint: %w", err)
	}
	return j, nil
}

// normalizeLine is the template function of the evolution injector and the
// baselines.
func normalizeLine(l string) string { return normalize.Line(l) }
