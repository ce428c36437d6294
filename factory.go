// Package coorlogprocessor is an OpenTelemetry Collector processor that groups
// log records into sessions and annotates every record with CoorLog's verdict:
// a coordinator routes each session to a cheap small model or, when the logs
// have evolved past what the small model knows, to an LLM.
package coorlogprocessor // import "github.com/coorlog/coorlogprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/coorlog/coorlogprocessor/internal/metadata"
)

// NewFactory returns the factory of the coorlog processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogsProcessor, metadata.LogsStability),
	)
}

// createDefaultConfig holds the documented defaults (docs/notes/collector.md).
func createDefaultConfig() component.Config {
	httpCfg := confighttp.NewDefaultClientConfig()
	httpCfg.Timeout = 30 * time.Second
	feedbackSrv := confighttp.NewDefaultServerConfig()
	feedbackSrv.MaxRequestBodySize = 1 << 20
	return &Config{
		Mode:      "", // detect with model_path, else learn
		ModelPath: "",
		Encoder: EncoderConfig{
			Path:      "", // embedded default encoder
			Pooling:   PoolingMean,
			MaxSeqLen: 64,
			BatchSize: 32,
			Threads:   1,
			CacheSize: 65536,
		},
		Session: SessionConfig{
			Key:               KeyConfig{Source: KeyTraceID},
			MissingKey:        MissingKeyResource,
			MaxRecords:        100,
			InactivityTimeout: 30 * time.Second,
			MaxOpenSessions:   10_000,
			MaxBufferedBytes:  64 << 20,
			MaxLineBytes:      2048,
		},
		Workers:         2,
		QueueSize:       1000,
		AttributePrefix: "anomaly.",
		EmitSummary:     false,
		Learn:           LearnConfig{Sessions: 1000, Duration: time.Hour, Screen: true, ReviewBudget: 0.10},
		AEM:             AEMConfig{Enabled: true, Interval: time.Minute, BatchSize: 32},
		LLM: LLMConfig{
			ClientConfig:     httpCfg,
			Temperature:      0.01,
			TopP:             0.95,
			MaxRetries:       3,
			MaxConcurrent:    4,
			TokensPerMinute:  0, // unlimited
			MaxTokensPerHour: 0, // unlimited
			TopK:             3,
		},
		Feedback: FeedbackConfig{
			ServerConfig:   feedbackSrv, // no endpoint: off
			RateLimit:      60,
			RecentSessions: 10_000,
		},
	}
}

// createLogsProcessor is cheap: the encoder, model bundle and LLM client are
// loaded in Start, so that a bad model file is a start error the collector
// reports, and creating a component for validation costs nothing.
func createLogsProcessor(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	return newCoorlogProcessor(set, cfg.(*Config), next)
}
