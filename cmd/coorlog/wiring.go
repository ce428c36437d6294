package main

// The seams to the packages other engineers own: encoder loading, training,
// the cascade and the LLM stage. Everything else in this command talks to
// them only through these functions.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/embedcache"
	"github.com/coorlog/coorlogprocessor/model/encoder"
)

func newCache(enc model.Encoder) model.Encoder { return embedcache.New(enc, 0) }

// loadEncoder opens the encoder named by a bundle: "default" is the shipped
// compact encoder, anything else a Hugging Face checkpoint directory.
func loadEncoder(ref string, threads int) (model.Encoder, func(), error) {
	if ref == "" || ref == "default" {
		return nil, nil, errors.New("the default encoder is not available in this build yet; pass --encoder DIR")
	}
	e, err := encoder.Load(ref, encoder.Options{Threads: threads})
	if err != nil {
		return nil, nil, err
	}
	return e, func() { e.Close() }, nil
}

// trainBundle trains coordinator, small model and memory.
func trainBundle(ctx context.Context, train, valid []dataset.Session, enc model.Encoder, ref string, seed int64, stderr io.Writer) (*bundle.Bundle, error) {
	return nil, errors.New("training is not available in this build yet")
}

// newCascade builds the CoorLog detector over a bundle; close stops AEM.
func newCascade(ctx context.Context, b *bundle.Bundle, enc model.Encoder, judge model.Judge, aem bool) (model.Detector, func() error, error) {
	return nil, nil, errors.New("the cascade is not available in this build yet")
}

// buildJudge returns the LLM stage the flags select.
func buildJudge(lf *llmFlags, test []dataset.Session, seed int64) (model.Judge, error) {
	if lf.simulated {
		labels := make(map[string]int, len(test))
		for _, s := range test {
			labels[s.ID] = s.Label
		}
		return nil, fmt.Errorf("simulated LLM not available in this build yet (%d labels)", len(labels))
	}
	key := os.Getenv(llmKeyEnv)
	_ = key
	return nil, errors.New("LLM client not available in this build yet")
}
