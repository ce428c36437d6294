package coorlogprocessor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/internal/compose"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/llm"
)

// modelSet is the model side the component runs on.
type modelSet struct {
	detector   model.Detector
	version    string
	embedHits  func() int64 // embedding cache hits so far; nil when unknown
	aemUpdates func() int64 // AEM swaps so far; nil when AEM is off
	tau        func() (float64, bool)
	// learnReview is learn mode's screen so far (zero until it trains); nil
	// in detect mode.
	learnReview func() model.ReviewStats
	// cascadeStats is the cascade's counters; false while learn mode collects.
	cascadeStats func() (model.Stats, bool)
	// cascade is the cascade in use, for operator feedback; nil while learn
	// mode collects.
	cascade func() teacher
	close   func(context.Context) error
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
	return compose.Judge(lc)
}

// buildModels loads the model side: the bundle first (cheap, so a corrupt
// file fails the start before the encoder is loaded), then the encoder behind
// the embedding cache, then the cascade (detect) or the learner (learn), with
// the AEM updater when enabled.
func buildModels(ctx context.Context, cfg *Config, judge model.Judge, log *zap.Logger) (ms modelSet, err error) {
	mode := cfg.EffectiveMode()
	var b *bundle.Bundle
	var follow *bundleFollower
	if mode == ModeDetect {
		if cfg.ModelReloadInterval > 0 {
			follow = newBundleFollower(cfg.ModelPath, cfg.ModelReloadInterval, log) // before the load: no save missed
		}
		if b, err = bundle.Load(cfg.ModelPath); err != nil {
			return ms, fmt.Errorf("loading the model bundle (model_path %s): %w", cfg.ModelPath, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return ms, err
	}

	e := cfg.Encoder
	enc, err := compose.Encoder(e.Path, encoder.Options{Pooling: e.Pooling, MaxSeqLen: e.MaxSeqLen, BatchSize: e.BatchSize, Threads: e.Threads})
	if err != nil {
		return ms, err
	}
	var cleanups []func() error
	cleanups = append(cleanups, enc.Close)
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				_ = cleanups[i]()
			}
		}
	}()
	cache := compose.Cached(enc, cfg.Encoder.CacheSize)
	copts := model.CascadeOptions{Encoder: cache, Judge: judge, JudgeConcurrency: cfg.LLM.MaxConcurrent}
	if cfg.Feedback.Enabled() {
		copts.RecentSessions = cfg.Feedback.RecentSessions
	}

	// AEM (or the bundle follower) runs in the background until Shutdown; in
	// learn mode AEM starts when the trained cascade takes over.
	aemCtx, stopAEM := context.WithCancel(context.Background())
	var aemDone sync.WaitGroup
	var updater atomic.Pointer[evolve.Updater]
	startAEM := func(c *model.Cascade) {
		if cfg.Feedback.Enabled() && cfg.ModelPath != "" {
			c.EnableFeedback(c.PersistDir(cfg.ModelPath)) // operator edits are saved with AEM off too
		}
		if !cfg.AEM.Enabled {
			return
		}
		var persist func(context.Context, *evolve.Snapshot) error
		if cfg.ModelPath != "" {
			persist = c.PersistDir(cfg.ModelPath)
		}
		u := c.EnableAEM(evolve.Config{BatchSize: cfg.AEM.BatchSize, Interval: cfg.AEM.Interval}, persist)
		updater.Store(u)
		aemDone.Add(1)
		go func() {
			defer aemDone.Done()
			_ = u.Run(aemCtx)
		}()
	}
	// ms.close flushes pending findings first (bounded by the shutdown
	// context), so that the persisted bundle holds everything learnt; this
	// then stops the updater's loop.
	cleanups = append(cleanups, func() error { stopAEM(); aemDone.Wait(); return nil })

	switch mode {
	case ModeDetect:
		c, err := compose.Cascade(b, copts)
		if err != nil {
			return ms, fmt.Errorf("model bundle %s: %w", cfg.ModelPath, err)
		}
		startAEM(c)
		if follow != nil { // Validate keeps AEM and feedback off here
			follow.swap, follow.version = c.Swap, c.ModelVersion
			aemDone.Add(1)
			go func() {
				defer aemDone.Done()
				follow.run(aemCtx)
			}()
			log.Info("coorlog: following the bundle another replica writes",
				zap.String("model_path", cfg.ModelPath), zap.Duration("model_reload_interval", cfg.ModelReloadInterval))
		}
		ms.detector, ms.version = c, c.ModelVersion()
		ms.cascade = func() teacher { return c }
		ms.cascadeStats = func() (model.Stats, bool) { return c.Stats(), true }
		ms.tau = func() (float64, bool) { return c.Snapshot().Coordinator.Tau(), true }
	default: // learn
		var l *model.Learner
		lo := model.LearnOptions{
			Sessions: cfg.Learn.Sessions,
			Duration: cfg.Learn.Duration,
			Train:    model.TrainOptions{Encoder: bundle.EncoderRef{Name: compose.EncoderName(cfg.Encoder.Path)}},
			Cascade:  copts,
			Review:   model.ReviewOptions{Off: !cfg.Learn.Screen, Budget: cfg.Learn.ReviewBudget},
			OnScreen: func([]model.ScreenDecision) {
				st := l.Review()
				log.Info("coorlog: learn mode screened its learning sessions",
					zap.Int("sessions", st.Sessions), zap.Int("suspects", st.Suspects), zap.Int("llm_requests", st.Requests),
					zap.Int("reviewed", st.Reviewed), zap.Int("reviewed_anomalous", st.ReviewedAnomalous),
					zap.Int("review_errors", st.ReviewErrors), zap.Int("held_out", st.HeldOut),
					zap.Int("flows_asked", st.Flows), zap.Int("flows_anomalous", st.FlowsAnomalous))
			},
			OnReady: func(c *model.Cascade) {
				log.Info("coorlog: learn mode trained a model; detecting from now on", zap.String("model_version", c.ModelVersion()))
				startAEM(c)
			},
		}
		if cfg.ModelPath != "" {
			lo.Save = func(_ context.Context, b *bundle.Bundle) error {
				_, err := bundle.Save(cfg.ModelPath, b)
				return err
			}
		}
		l, err = model.NewLearner(lo)
		if err != nil {
			return ms, fmt.Errorf("learn mode: %w", err)
		}
		cleanups = append(cleanups, func() error { l.Close(); return nil })
		ms.detector, ms.version = l, model.ReasonLearning
		ms.learnReview = l.Review
		ms.cascadeStats = func() (model.Stats, bool) {
			if c := l.Cascade(); c != nil {
				return c.Stats(), true
			}
			return model.Stats{}, false
		}
		ms.cascade = func() teacher {
			if c := l.Cascade(); c != nil {
				return c
			}
			return nil // not a typed nil: the endpoint tests for nil
		}
		ms.tau = func() (float64, bool) {
			if c := l.Cascade(); c != nil {
				return c.Snapshot().Coordinator.Tau(), true
			}
			return 0, false
		}
		switch {
		case !cfg.Learn.Screen:
			log.Info("coorlog: learn mode: collecting sessions, all taken as normal (learn.screen is off), before training",
				zap.Int("sessions", cfg.Learn.Sessions), zap.Duration("duration", cfg.Learn.Duration))
		case judge == nil:
			log.Info("coorlog: learn mode: collecting sessions before training; no LLM is configured, so the unusual ones "+
				"(warning-or-worse lines, rare line shapes or combinations, outlying lengths) will be held out of the model, not reviewed",
				zap.Int("sessions", cfg.Learn.Sessions), zap.Duration("duration", cfg.Learn.Duration))
		default:
			log.Info("coorlog: learn mode: collecting sessions before training; the LLM reviews the unusual ones within the budget, the rest of them are held out",
				zap.Int("sessions", cfg.Learn.Sessions), zap.Duration("duration", cfg.Learn.Duration), zap.Float64("review_budget", cfg.Learn.ReviewBudget))
		}
	}

	ms.embedHits = func() int64 { h, _, _ := cache.Stats(); return int64(h) }
	if cfg.AEM.Enabled {
		ms.aemUpdates = func() int64 {
			if u := updater.Load(); u != nil {
				return int64(u.Stats().Updates)
			}
			return 0
		}
	}
	ms.close = func(ctx context.Context) error {
		// A background update holds the updater while it trains; it must
		// not outlive Shutdown's deadline (the bundle write is atomic, so
		// cancelling it loses no file, only that update).
		stop := context.AfterFunc(ctx, stopAEM)
		defer stop()
		var errs []error
		if u := updater.Load(); u != nil {
			if err := u.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("AEM: applying pending updates: %w", err))
			}
		}
		for i := len(cleanups) - 1; i >= 0; i-- {
			errs = append(errs, cleanups[i]())
		}
		return errors.Join(errs...)
	}
	return ms, nil
}
