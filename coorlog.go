package coorlogprocessor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/internal/metadata"
	"github.com/coorlog/coorlogprocessor/model"
	streaming "github.com/coorlog/coorlogprocessor/processor"
)

// coorlogProcessor is the collector component. Everything heavy (model
// bundle, encoder, LLM client, workers) is built in Start and released in
// Shutdown; ConsumeLogs hands records to the streaming processor.
type coorlogProcessor struct {
	set  processor.Settings
	cfg  *Config
	next consumer.Logs
	log  *zap.Logger
	tb   *metadata.TelemetryBuilder
	tel  *telemetry
	// build loads the model side; tests replace it with a fake.
	build buildModelsFunc

	mu       sync.Mutex
	inner    *streaming.Processor
	feedback *feedbackServer               // nil unless feedback.endpoint is set
	release  []func(context.Context) error // undone in reverse order at Shutdown
	shutdown bool
}

var _ processor.Logs = (*coorlogProcessor)(nil)

func newCoorlogProcessor(set processor.Settings, cfg *Config, next consumer.Logs) (*coorlogProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("coorlog: building telemetry: %w", err)
	}
	log := set.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &coorlogProcessor{set: set, cfg: cfg, next: next, log: log, tb: tb, tel: newTelemetry(tb, log), build: buildModels}, nil
}

func (p *coorlogProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Start loads the model side and starts the streaming processor. Any failure
// is a start error naming what failed (a corrupt model file, a missing
// encoder); what was built so far is released.
func (p *coorlogProcessor) Start(ctx context.Context, host component.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return errors.New("coorlog: component was shut down")
	}
	if p.inner != nil {
		return errors.New("coorlog: component already started")
	}
	if err := p.start(ctx, host); err != nil {
		_ = p.releaseAll(context.Background())
		return fmt.Errorf("coorlog: %w", err)
	}
	return nil
}

func (p *coorlogProcessor) start(ctx context.Context, host component.Host) error {
	var judge model.Judge
	var judgeCached func() int64
	if p.cfg.LLM.Enabled() {
		j, err := newJudge(ctx, p.cfg.LLM, host, p.set.TelemetrySettings, p.log)
		if err != nil {
			return err
		}
		judge = instrumentedJudge{inner: j, tel: p.tel}
		judgeCached = func() int64 { return j.Stats().CacheHits }
	} else {
		p.log.Warn("coorlog: no llm.endpoint configured; evolved sessions get the small model's verdict with route fallback")
	}

	models, err := p.build(ctx, p.cfg, judge, p.log)
	if err != nil {
		return err
	}
	p.release = append(p.release, models.close)

	inner, err := streaming.New(p.cfg.streaming(models.version), models.detector, p.next, p.log, p.tel)
	if err != nil {
		return err
	}
	if err := inner.Start(ctx); err != nil {
		return fmt.Errorf("starting processor: %w", err)
	}
	p.inner = inner
	p.release = append(p.release, inner.Shutdown)

	if p.cfg.Feedback.Enabled() {
		fs := newFeedbackServer(models.cascade, p.cfg.Feedback.RateLimit, p.tel.feedback, p.log)
		if err := fs.start(ctx, p.cfg.Feedback, host, p.set.TelemetrySettings); err != nil {
			return err
		}
		p.release = append(p.release, fs.shutdown)
		p.feedback = fs
	}

	err = p.tel.register(observables{
		openSessions:  inner.OpenSessions,
		embedHits:     models.embedHits,
		aemUpdates:    models.aemUpdates,
		verdictCached: judgeCached,
		tau:           models.tau,
		learnReview:   models.learnReview,
		cascadeStats:  models.cascadeStats,
	})
	if err != nil {
		return err
	}
	p.log.Info("coorlog: started",
		zap.String("mode", p.cfg.EffectiveMode()),
		zap.String("model_version", models.version),
		zap.Bool("llm", p.cfg.LLM.Enabled()),
		zap.String("session_key", string(p.cfg.Session.Key.Source)))
	return nil
}

func (p *coorlogProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	p.mu.Lock()
	inner := p.inner
	p.mu.Unlock()
	if inner == nil {
		return errors.New("coorlog: not running (ConsumeLogs before Start or after Shutdown)")
	}
	return inner.ConsumeLogs(ctx, ld)
}

// Shutdown scores and sends every buffered record (or marks it fallback when
// ctx runs out), then stops the model side: AEM persists what it learnt and
// the encoder frees its tensors. Safe without Start and more than once.
func (p *coorlogProcessor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shutdown = true
	err := p.releaseAll(ctx)
	p.tb.Shutdown()
	return err
}

func (p *coorlogProcessor) releaseAll(ctx context.Context) error {
	var errs []error
	for i := len(p.release) - 1; i >= 0; i-- {
		errs = append(errs, p.release[i](ctx))
	}
	p.release = nil
	p.inner = nil
	return errors.Join(errs...)
}
