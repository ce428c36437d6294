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
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/embedcache"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/llm"
	streaming "github.com/coorlog/coorlogprocessor/processor"
)

// NewFactory returns the factory of the coorlog processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogsProcessor, metadata.LogsStability),
	)
}

// createDefaultConfig composes the defaults from the packages that own each
// behaviour, so that every default value is written once: the stream
// processor's (session, workers, queue, prefix), the encoder's, the LLM
// client's, learn mode's and AEM's. The few that only the collector has (the
// encoder's thread count, learn.duration, the feedback endpoint's limits) are
// set here. README "Configuration" lists them all.
func createDefaultConfig() component.Config {
	st := streaming.DefaultConfig()
	lc := llm.DefaultConfig()
	aem := evolve.DefaultConfig()
	httpCfg := confighttp.NewDefaultClientConfig()
	httpCfg.Timeout = lc.Timeout
	feedbackSrv := confighttp.NewDefaultServerConfig()
	feedbackSrv.MaxRequestBodySize = 1 << 20
	return &Config{
		Mode:      "", // detect with model_path, else learn
		ModelPath: "",
		Encoder: EncoderConfig{
			Path:      "", // embedded default encoder
			Pooling:   string(encoder.PoolMean),
			MaxSeqLen: encoder.DefaultMaxSeqLen,
			BatchSize: encoder.DefaultBatchSize,
			// One intra-op thread: the scoring workers already run in
			// parallel, and libtorch's default (every core) competes with them.
			Threads:   1,
			CacheSize: embedcache.DefaultSize,
		},
		Session: SessionConfig{
			Key:               KeyConfig{Source: st.KeySource},
			MissingKey:        st.MissingKey,
			MaxRecords:        st.MaxRecords,
			InactivityTimeout: st.InactivityTimeout,
			MaxOpenSessions:   st.MaxOpenSessions,
			MaxBufferedBytes:  int(st.MaxBufferedBytes),
			MaxLineBytes:      st.MaxLineBytes,
		},
		Workers:         st.Workers,
		QueueSize:       st.QueueSize,
		Pending:         PendingConfig{MaxSessions: st.MaxPending, LateAfter: st.LateAfter},
		AttributePrefix: st.AttributePrefix,
		Attributes:      st.Attributes,
		EmitSummary:     st.EmitSummary,
		WriteTemplate:   st.WriteTemplate,
		Learn: LearnConfig{
			Sessions:     model.DefaultLearnSessions,
			Duration:     time.Hour,
			Screen:       true,
			ReviewBudget: model.DefaultReviewBudget,
		},
		AEM: AEMConfig{Enabled: true, Interval: aem.Interval, BatchSize: aem.BatchSize},
		LLM: LLMConfig{
			ClientConfig:     httpCfg,
			Temperature:      lc.Temperature,
			TopP:             lc.TopP,
			MaxRetries:       lc.MaxRetries,
			MaxConcurrent:    lc.MaxConcurrent,
			TokensPerMinute:  lc.TokensPerMinute,  // 0: unlimited
			MaxTokensPerHour: lc.MaxTokensPerHour, // 0: unlimited
			TopK:             lc.TopK,
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
