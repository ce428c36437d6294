package coorlogprocessor

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/llm"
)

// modelSet is the model side the component runs on.
type modelSet struct {
	detector   model.Detector
	version    string
	embedHits  func() int64 // embedding cache hits so far; nil when unknown
	aemUpdates func() int64 // AEM swaps so far; nil when AEM is off
	close      func(context.Context) error
}

type buildModelsFunc func(ctx context.Context, cfg *Config, judge model.Judge, log *zap.Logger) (modelSet, error)

// newJudge builds the LLM stage's client on the collector's HTTP settings
// (TLS, proxy, headers, auth extensions).
func newJudge(ctx context.Context, c LLMConfig, host component.Host, set component.TelemetrySettings, log *zap.Logger) (*llm.Judge, error) {
	hc, err := c.ClientConfig.ToClient(ctx, host.GetExtensions(), set)
	if err != nil {
		return nil, fmt.Errorf("llm: building HTTP client: %w", err)
	}
	lc := llm.DefaultConfig()
	lc.BaseURL = c.Endpoint
	lc.Model = c.Model
	lc.APIKey = string(c.APIKey)
	lc.Temperature = c.Temperature
	lc.TopP = c.TopP
	lc.Timeout = c.Timeout
	lc.MaxRetries = c.MaxRetries
	lc.MaxConcurrent = c.MaxConcurrent
	lc.TokensPerMinute = c.TokensPerMinute
	lc.MaxTokensPerHour = c.MaxTokensPerHour
	lc.TopK = c.TopK
	lc.Redact = c.Redact
	lc.HTTPClient = hc
	lc.Logger = newSlogLogger(log.Named("llm"))
	j, err := llm.New(lc)
	if err != nil {
		// llm.Config.Validate never echoes the API key.
		return nil, fmt.Errorf("llm: %w", err)
	}
	return j, nil
}

// buildModels loads the model side: the bundle first (cheap, so a corrupt
// file fails the start before the encoder is loaded), then the encoder behind
// the embedding cache, then the cascade (detect) or the learner (learn).
func buildModels(ctx context.Context, cfg *Config, judge model.Judge, log *zap.Logger) (modelSet, error) {
	return modelSet{}, fmt.Errorf("model side not wired yet")
}
