// Package compose is the composition root of the model side: the one place
// that turns settings into a running encoder, cascade and LLM judge. The
// collector component (models.go) and the CLI (cmd/coorlog) both build
// through it, so that one encoder name loads one encoder and every cascade
// runs under one policy.
package compose

import (
	"fmt"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/defaultencoder"
	"github.com/coorlog/coorlogprocessor/model/embedcache"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/llm"
)

// DefaultEncoder is the name bundles record for the embedded default encoder.
const DefaultEncoder = "default"

// EncoderName is the name a bundle records for the encoder at path: the
// default encoder when path is empty.
func EncoderName(path string) string {
	if path == "" {
		return DefaultEncoder
	}
	return path
}

// Encoder opens the encoder a name refers to: "" or DefaultEncoder is the
// embedded default encoder, anything else a Hugging Face BERT checkpoint
// directory. Close frees its tensors.
func Encoder(name string, opts encoder.Options) (*encoder.Encoder, error) {
	if name == "" || name == DefaultEncoder {
		e, err := defaultencoder.Load(opts)
		if err != nil {
			return nil, fmt.Errorf("loading the embedded default encoder: %w", err)
		}
		return e, nil
	}
	e, err := encoder.Load(name, opts)
	if err != nil {
		return nil, fmt.Errorf("loading encoder %s: %w", name, err)
	}
	return e, nil
}

// Cached puts the embedding cache, keyed by normalised line, in front of an
// encoder; size 0 is embedcache.DefaultSize.
func Cached(enc model.Encoder, size int) *embedcache.Cache {
	return embedcache.New(enc, size)
}

// Cascade builds the CoorLog detector over a trained bundle. The encoder must
// reproduce the bundle's probe vectors: another encoder, pooling or
// normaliser would send nearly every session to the LLM, so that is an error
// here, for the collector and the CLI alike.
func Cascade(b *bundle.Bundle, opts model.CascadeOptions) (*model.Cascade, error) {
	opts.RequireEncoderMatch = true
	return model.NewCascade(b, opts)
}

// Judge builds the LLM stage's client. Its errors never echo the API key.
func Judge(cfg llm.Config) (*llm.Judge, error) {
	j, err := llm.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("llm: %w", err)
	}
	return j, nil
}
