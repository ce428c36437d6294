package coorlogprocessor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/internal/metadata"
	"github.com/coorlog/coorlogprocessor/model"
	streaming "github.com/coorlog/coorlogprocessor/processor"
)

// telemetry implements streaming.Observer with the component's instruments
// and counts what the LLM stage did through instrumentedJudge. Attribute
// options are built once: the observer is on the hot path.
type telemetry struct {
	tb  *metadata.TelemetryBuilder
	log *zap.Logger

	closeReason map[string]metric.AddOption
	route       map[string]metric.AddOption
	feedbackRes map[string]metric.AddOption
	tokPrompt   metric.AddOption
	tokComplete metric.AddOption

	verdictCacheHits atomic.Int64
	detectErrors     atomic.Int64
	exportFailures   atomic.Int64
}

var _ streaming.Observer = (*telemetry)(nil)
var _ streaming.ExportObserver = (*telemetry)(nil)

func newTelemetry(tb *metadata.TelemetryBuilder, log *zap.Logger) *telemetry {
	t := &telemetry{
		tb: tb, log: log,
		closeReason: map[string]metric.AddOption{},
		route:       map[string]metric.AddOption{},
		feedbackRes: map[string]metric.AddOption{},
		tokPrompt:   metric.WithAttributeSet(attribute.NewSet(attribute.String("token_kind", "prompt"))),
		tokComplete: metric.WithAttributeSet(attribute.NewSet(attribute.String("token_kind", "completion"))),
	}
	for _, r := range []string{streaming.CloseMaxRecords, streaming.CloseInactivity, streaming.CloseEvicted, streaming.CloseShutdown} {
		t.closeReason[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	for _, r := range []model.Route{model.RouteSmallModel, model.RouteLLM, model.RouteCache, model.RouteFallback} {
		t.route[string(r)] = metric.WithAttributeSet(attribute.NewSet(attribute.String("route", string(r))))
	}
	for _, r := range []string{feedbackAccepted, feedbackUndone, feedbackRejected} {
		t.feedbackRes[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", r)))
	}
	return t
}

// feedback counts one operator feedback request by its result.
func (t *telemetry) feedback(ctx context.Context, result string) {
	t.tb.ProcessorCoorlogFeedback.Add(ctx, 1, attrOpt(t.feedbackRes, "result", result))
}

// attrOpt returns the prebuilt option for a known value, building one for an
// unknown value rather than dropping the event.
func attrOpt(known map[string]metric.AddOption, key, value string) metric.AddOption {
	if o, ok := known[value]; ok {
		return o
	}
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(key, value)))
}

func (t *telemetry) SessionOpened(ctx context.Context) {
	t.tb.ProcessorCoorlogSessionsOpened.Add(ctx, 1)
}

func (t *telemetry) SessionClosed(ctx context.Context, reason string) {
	t.tb.ProcessorCoorlogSessionsClosed.Add(ctx, 1, attrOpt(t.closeReason, "reason", reason))
}

func (t *telemetry) RecordsAnnotated(ctx context.Context, n int) {
	t.tb.ProcessorCoorlogRecordsAnnotated.Add(ctx, int64(n))
}

func (t *telemetry) Verdict(ctx context.Context, route string, anomaly, evolved bool) {
	opt := attrOpt(t.route, "route", route)
	t.tb.ProcessorCoorlogRoutes.Add(ctx, 1, opt)
	if anomaly {
		t.tb.ProcessorCoorlogAnomalies.Add(ctx, 1, opt)
	}
	if evolved {
		t.tb.ProcessorCoorlogEvolved.Add(ctx, 1)
	}
}

// DetectError: the processor annotates such sessions with route fallback and
// reports that through Verdict; the error itself is counted for the logs.
func (t *telemetry) DetectError(context.Context) {
	if n := t.detectErrors.Add(1); n == 1 || n%1000 == 0 {
		t.log.Warn("detector errors: sessions annotated with route fallback", zap.Int64("total", n))
	}
}

func (t *telemetry) ExportFailed(_ context.Context, records int, err error) {
	if n := t.exportFailures.Add(1); n == 1 || n%100 == 0 {
		t.log.Warn("next consumer refused annotated records", zap.Int("records", records), zap.Int64("failures", n), zap.Error(err))
	}
}

// judged records one LLM stage call.
func (t *telemetry) judged(ctx context.Context, j model.Judgement, took time.Duration, err error) {
	if j.Cached {
		t.verdictCacheHits.Add(1)
	}
	if j.Calls > 0 {
		t.tb.ProcessorCoorlogLlmCalls.Add(ctx, int64(j.Calls))
		t.tb.ProcessorCoorlogLlmLatency.Record(ctx, took.Seconds())
	}
	if j.PromptTokens > 0 {
		t.tb.ProcessorCoorlogLlmTokens.Add(ctx, int64(j.PromptTokens), t.tokPrompt)
	}
	if j.CompletionTokens > 0 {
		t.tb.ProcessorCoorlogLlmTokens.Add(ctx, int64(j.CompletionTokens), t.tokComplete)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		t.tb.ProcessorCoorlogLlmErrors.Add(ctx, 1)
	}
}

// instrumentedJudge counts calls, tokens, latency, errors and verdict-cache
// hits of the LLM stage from the Judgements it returns, so the counts do not
// depend on the LLM client's internals.
type instrumentedJudge struct {
	inner model.Judge
	tel   *telemetry
}

func (j instrumentedJudge) Judge(ctx context.Context, s model.Session, nb []model.Neighbour) (model.Judgement, error) {
	start := time.Now()
	out, err := j.inner.Judge(ctx, s, nb)
	j.tel.judged(ctx, out, time.Since(start), err)
	return out, err
}

// observables are the values read at collection time by the asynchronous
// instruments. Each func may be nil when its source is absent.
type observables struct {
	openSessions  func() int64
	embedHits     func() int64
	aemUpdates    func() int64
	verdictCached func() int64
	tau           func() (float64, bool)     // false: no coordinator yet (learn mode)
	learnReview   func() model.ReviewStats   // learn mode's screen; nil in detect mode
	cascadeStats  func() (model.Stats, bool) // false while learn mode collects; nil when unknown
}

var (
	outcomeSuspect           = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "suspect")))
	outcomeReviewed          = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "reviewed")))
	outcomeReviewedAnomalous = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "reviewed_anomalous")))
	outcomeHeldOut           = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "held_out")))
	cacheEmbedding           = metric.WithAttributeSet(attribute.NewSet(attribute.String("cache", "embedding")))
	cacheVerdict             = metric.WithAttributeSet(attribute.NewSet(attribute.String("cache", "verdict")))
	cacheContent             = metric.WithAttributeSet(attribute.NewSet(attribute.String("cache", "content")))
	decisionKnown            = decisionOpt("known")
	decisionFragile          = decisionOpt("fragile")
	decisionPendingHit       = decisionOpt("pending_hit")
	decisionFastPath         = decisionOpt("fast_path")
	decisionNearHeld         = decisionOpt("near_held")
	decisionHeld             = decisionOpt("alarm_held")
	decisionCorroborated     = decisionOpt("alarm_corroborated")
	decisionContradicted     = decisionOpt("alarm_contradicted")
	decisionExpired          = decisionOpt("alarm_expired")
)

func decisionOpt(d string) metric.ObserveOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("decision", d)))
}

// register installs the callbacks; tb.Shutdown removes them.
func (t *telemetry) register(o observables) error {
	var errs []error
	if o.openSessions != nil {
		errs = append(errs, t.tb.RegisterProcessorCoorlogOpenSessionsCallback(func(_ context.Context, obs metric.Int64Observer) error {
			obs.Observe(o.openSessions())
			return nil
		}))
	}
	errs = append(errs, t.tb.RegisterProcessorCoorlogCacheHitsCallback(func(_ context.Context, obs metric.Int64Observer) error {
		if o.embedHits != nil {
			obs.Observe(o.embedHits(), cacheEmbedding)
		}
		v := t.verdictCacheHits.Load()
		if o.verdictCached != nil {
			v = o.verdictCached()
		}
		obs.Observe(v, cacheVerdict)
		if o.cascadeStats != nil {
			if st, ok := o.cascadeStats(); ok {
				obs.Observe(int64(st.Repeats), cacheContent)
			}
		}
		return nil
	}))
	if o.aemUpdates != nil {
		errs = append(errs, t.tb.RegisterProcessorCoorlogAemUpdatesCallback(func(_ context.Context, obs metric.Int64Observer) error {
			obs.Observe(o.aemUpdates())
			return nil
		}))
	}
	if o.learnReview != nil {
		errs = append(errs, t.tb.RegisterProcessorCoorlogLearnSessionsCallback(func(_ context.Context, obs metric.Int64Observer) error {
			st := o.learnReview()
			obs.Observe(int64(st.Suspects), outcomeSuspect)
			obs.Observe(int64(st.Reviewed), outcomeReviewed)
			obs.Observe(int64(st.ReviewedAnomalous), outcomeReviewedAnomalous)
			obs.Observe(int64(st.HeldOut), outcomeHeldOut)
			return nil
		}))
	}
	if o.cascadeStats != nil {
		errs = append(errs, t.tb.RegisterProcessorCoorlogCascadeDecisionsCallback(func(_ context.Context, obs metric.Int64Observer) error {
			st, ok := o.cascadeStats()
			if !ok {
				return nil
			}
			for _, d := range []struct {
				n   uint64
				opt metric.ObserveOption
			}{
				{st.Known, decisionKnown}, {st.Fragile, decisionFragile}, {st.PendingHits, decisionPendingHit},
				{st.FastPath, decisionFastPath}, {st.NearHeld, decisionNearHeld}, {st.Held, decisionHeld},
				{st.Corroborated, decisionCorroborated}, {st.Contradicted, decisionContradicted}, {st.Expired, decisionExpired},
			} {
				obs.Observe(int64(d.n), d.opt)
			}
			return nil
		}))
		errs = append(errs, t.tb.RegisterProcessorCoorlogHeldAlarmsCallback(func(_ context.Context, obs metric.Int64Observer) error {
			if st, ok := o.cascadeStats(); ok {
				obs.Observe(int64(st.HeldNow))
			}
			return nil
		}))
	}
	if o.tau != nil {
		errs = append(errs, t.tb.RegisterProcessorCoorlogTauCallback(func(_ context.Context, obs metric.Float64Observer) error {
			if tau, ok := o.tau(); ok {
				obs.Observe(tau)
			}
			return nil
		}))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("registering telemetry callbacks: %w", err)
	}
	return nil
}
