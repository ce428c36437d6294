package coorlogprocessor

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/internal/metadatatest"
	"github.com/coorlog/coorlogprocessor/model"

	streaming "github.com/coorlog/coorlogprocessor/processor"
)

// fakeDetector judges by content: "ERROR" is anomalous, "v2" is evolved
// (and, with no LLM, gets the fallback route).
type fakeDetector struct{ calls atomic.Int64 }

func (f *fakeDetector) Detect(_ context.Context, s model.Session) (model.Verdict, error) {
	f.calls.Add(1)
	text := strings.Join(s.Lines, "\n")
	v := model.Verdict{Route: model.RouteSmallModel, Score: 0.1, RecError: 0.01, ModelVersion: "fake-1"}
	if strings.Contains(text, "ERROR") {
		v.Anomaly, v.Score = true, 0.9
	}
	if strings.Contains(text, "v2") {
		v.Evolved, v.Route, v.Reason = true, model.RouteFallback, "no LLM configured"
	}
	return v, nil
}

func hdfsLogs(lines ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "hdfs")
	sl := rl.ScopeLogs().AppendEmpty()
	for _, l := range lines {
		sl.LogRecords().AppendEmpty().Body().SetStr(l)
	}
	return ld
}

func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Session.Key = KeyConfig{Source: streaming.KeyFromBodyRegex, Regex: `blk_-?\d+`}
	cfg.Session.MaxRecords = 3
	cfg.Session.InactivityTimeout = time.Hour // only max_records and shutdown close sessions here
	cfg.Workers = 1
	return cfg
}

func sumPoints(attrs map[string]int64, key string) []metricdata.DataPoint[int64] {
	var out []metricdata.DataPoint[int64]
	for v, n := range attrs {
		dp := metricdata.DataPoint[int64]{Value: n}
		if key != "" {
			dp.Attributes = attribute.NewSet(attribute.String(key, v))
		}
		out = append(out, dp)
	}
	return out
}

func TestComponentAnnotatesAndCountsTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })

	sink := new(consumertest.LogsSink)
	cfg := testConfig()
	proc, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg, sink)
	require.NoError(t, err)
	det := &fakeDetector{}
	var closed atomic.Bool
	proc.(*coorlogProcessor).build = func(context.Context, *Config, model.Judge, *zap.Logger) (modelSet, error) {
		return modelSet{
			detector:  det,
			version:   "fake-1",
			embedHits: func() int64 { return 5 },
			tau:       func() (float64, bool) { return 0.0125, true },
			close:     func(context.Context) error { closed.Store(true); return nil },
		}, nil
	}
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))

	require.NoError(t, proc.ConsumeLogs(context.Background(), hdfsLogs(
		"081109 203615 148 INFO dfs.DataNode$PacketResponder: Received block blk_1 of size 67108864",
		"081109 203615 149 INFO dfs.DataNode$PacketResponder: Received block blk_2 of size 67108864",
		"081109 203615 150 INFO dfs.DataNode$PacketResponder: Received block blk_1 of size 67108864",
		"081109 203616 151 ERROR dfs.DataNode: blk_2 write failed",
		"081109 203616 152 INFO dfs.FSNamesystem: blk_1 deleted",
		"081109 203616 153 INFO v2 dfs.DataNode: block blk_3 received, 4 pieces",
		"081109 203616 154 INFO v2 dfs.DataNode: block blk_3 stored",
	)))

	// blk_1 closed on max_records; blk_2 and blk_3 are still open.
	require.Eventually(t, func() bool { return len(sink.AllLogs()) > 0 }, 5*time.Second, 10*time.Millisecond)
	metadatatest.AssertEqualProcessorCoorlogOpenSessions(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorCoorlogCacheHits(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("cache", "embedding")), Value: 5},
		{Attributes: attribute.NewSet(attribute.String("cache", "verdict")), Value: 0},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorCoorlogTau(t, tt,
		[]metricdata.DataPoint[float64]{{Value: 0.0125}}, metricdatatest.IgnoreTimestamp())

	require.NoError(t, proc.Shutdown(context.Background()))
	assert.True(t, closed.Load(), "the model side is released at shutdown")
	assert.EqualValues(t, 3, det.calls.Load())

	// Every record arrives once, annotated with its session's verdict.
	got := map[string]map[string]any{}
	n := 0
	for _, ld := range sink.AllLogs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					a := lrs.At(k).Attributes().AsRaw()
					if _, full := a["anomaly.route"]; full { // a session's first record, or all of an anomalous or fallback one
						got[a["anomaly.session.id"].(string)] = a
					}
					n++
				}
			}
		}
	}
	assert.Equal(t, 7, n)
	require.Len(t, got, 3)
	assert.Equal(t, false, got["blk_1"]["anomaly.is_anomaly"])
	assert.Equal(t, "small_model", got["blk_1"]["anomaly.route"])
	assert.Equal(t, true, got["blk_2"]["anomaly.is_anomaly"])
	assert.Equal(t, 0.9, got["blk_2"]["anomaly.score"])
	assert.Equal(t, "fallback", got["blk_3"]["anomaly.route"])
	assert.Equal(t, true, got["blk_3"]["anomaly.evolved"])
	assert.Equal(t, "no LLM configured", got["blk_3"]["anomaly.reason"])
	assert.Equal(t, "fake-1", got["blk_3"]["anomaly.model.version"])

	ign := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualProcessorCoorlogSessionsOpened(t, tt, sumPoints(map[string]int64{"": 3}, ""), ign)
	metadatatest.AssertEqualProcessorCoorlogSessionsClosed(t, tt,
		sumPoints(map[string]int64{"max_records": 1, "shutdown": 2}, "reason"), ign)
	metadatatest.AssertEqualProcessorCoorlogRecordsAnnotated(t, tt, sumPoints(map[string]int64{"": 7}, ""), ign)
	metadatatest.AssertEqualProcessorCoorlogRoutes(t, tt,
		sumPoints(map[string]int64{"small_model": 2, "fallback": 1}, "route"), ign)
	metadatatest.AssertEqualProcessorCoorlogAnomalies(t, tt, sumPoints(map[string]int64{"small_model": 1}, "route"), ign)
	metadatatest.AssertEqualProcessorCoorlogEvolved(t, tt, sumPoints(map[string]int64{"": 1}, ""), ign)
}

// fakeJudge answers like an LLM stage: one call with usage, or a cache hit,
// or a failure that still spent a request.
type fakeJudge struct{}

func (fakeJudge) Judge(_ context.Context, s model.Session, _ []model.Neighbour) (model.Judgement, error) {
	switch s.ID {
	case "cached":
		return model.Judgement{Cached: true, Anomaly: true}, nil
	case "fail":
		return model.Judgement{Calls: 1, PromptTokens: 40}, errors.New("llm: server_error")
	default:
		return model.Judgement{Calls: 2, PromptTokens: 300, CompletionTokens: 20, Reason: "evolution of a normal session"}, nil
	}
}

func TestInstrumentedJudgeCountsLLMUse(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	p, err := newCoorlogProcessor(set, testConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.tel.register(observables{}))
	j := instrumentedJudge{inner: fakeJudge{}, tel: p.tel}

	ctx := context.Background()
	for _, id := range []string{"a", "b", "cached", "fail"} {
		_, _ = j.Judge(ctx, model.Session{ID: id}, nil)
	}
	ign := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualProcessorCoorlogLlmCalls(t, tt, sumPoints(map[string]int64{"": 5}, ""), ign)
	metadatatest.AssertEqualProcessorCoorlogLlmTokens(t, tt,
		sumPoints(map[string]int64{"prompt": 640, "completion": 40}, "token_kind"), ign)
	metadatatest.AssertEqualProcessorCoorlogLlmErrors(t, tt, sumPoints(map[string]int64{"": 1}, ""), ign)
	metadatatest.AssertEqualProcessorCoorlogCacheHits(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("cache", "verdict")), Value: 1},
	}, ign)
	got, err := tt.GetMetric("otelcol_processor_coorlog_llm_latency")
	require.NoError(t, err)
	hist := got.Data.(metricdata.Histogram[float64])
	require.Len(t, hist.DataPoints, 1)
	assert.EqualValues(t, 3, hist.DataPoints[0].Count, "one latency sample per judgement that made calls")
	p.tb.Shutdown()
}

func TestStartErrorsAreClearAndReleaseWhatWasBuilt(t *testing.T) {
	p, err := newCoorlogProcessor(metadatatest.NewSettings(componenttest.NewTelemetry()), testConfig(), consumertest.NewNop())
	require.NoError(t, err)
	p.build = func(context.Context, *Config, model.Judge, *zap.Logger) (modelSet, error) {
		return modelSet{}, errors.New("loading model bundle /m: not a coorlog bundle")
	}
	err = p.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "coorlog: loading model bundle /m: not a coorlog bundle")
	assert.ErrorContains(t, p.ConsumeLogs(context.Background(), hdfsLogs("blk_1")), "not running")

	// A processor config the streaming side rejects releases the models.
	p2, err := newCoorlogProcessor(metadatatest.NewSettings(componenttest.NewTelemetry()), testConfig(), consumertest.NewNop())
	require.NoError(t, err)
	p2.cfg.Session.MaxRecords = -1
	var released atomic.Bool
	p2.build = func(context.Context, *Config, model.Judge, *zap.Logger) (modelSet, error) {
		return modelSet{detector: &fakeDetector{}, close: func(context.Context) error { released.Store(true); return nil }}, nil
	}
	require.Error(t, p2.Start(context.Background(), componenttest.NewNopHost()))
	assert.True(t, released.Load())
	require.NoError(t, p2.Shutdown(context.Background()))
}

func TestShutdownWithoutStart(t *testing.T) {
	p, err := newCoorlogProcessor(metadatatest.NewSettings(componenttest.NewTelemetry()), testConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Error(t, p.Start(context.Background(), componenttest.NewNopHost()), "no restart after shutdown")
}

func TestNewJudgeUsesCollectorHTTPSettings(t *testing.T) {
	c := createDefaultConfig().(*Config).LLM
	c.Endpoint = "http://127.0.0.1:1/v1"
	c.Model = "m"
	c.APIKey = "sk-never-printed"
	j, err := newJudge(context.Background(), c, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings(), zap.NewNop())
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(j.Version(), "m+"), j.Version())

	c.TLS.CAFile = "/nonexistent/ca.pem"
	c.Endpoint = "https://127.0.0.1:1/v1"
	_, err = newJudge(context.Background(), c, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings(), zap.NewNop())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "llm: building HTTP client")
	assert.NotContains(t, err.Error(), "sk-never-printed")
}

// The cascade's routing and corroboration counters and its content memo's
// hits are exported as they stand, and nothing of them is observed while
// learn mode has no cascade yet.
func TestCascadeDecisionsTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	p, err := newCoorlogProcessor(metadatatest.NewSettings(tt), testConfig(), consumertest.NewNop())
	require.NoError(t, err)
	var ready atomic.Bool
	st := model.Stats{Known: 1, Fragile: 2, PendingHits: 3, FastPath: 4, NearHeld: 5,
		Held: 6, Corroborated: 7, Contradicted: 8, Expired: 9, HeldNow: 10, Repeats: 11}
	require.NoError(t, p.tel.register(observables{cascadeStats: func() (model.Stats, bool) { return st, ready.Load() }}))

	_, err = tt.GetMetric("otelcol_processor_coorlog_cascade_decisions")
	require.Error(t, err, "no cascade yet (learn mode collecting): nothing observed")
	_, err = tt.GetMetric("otelcol_processor_coorlog_held_alarms")
	require.Error(t, err)
	ign := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualProcessorCoorlogCacheHits(t, tt, sumPoints(map[string]int64{"verdict": 0}, "cache"), ign)

	ready.Store(true)
	metadatatest.AssertEqualProcessorCoorlogCascadeDecisions(t, tt, sumPoints(map[string]int64{
		"known": 1, "fragile": 2, "pending_hit": 3, "fast_path": 4, "near_held": 5,
		"alarm_held": 6, "alarm_corroborated": 7, "alarm_contradicted": 8, "alarm_expired": 9,
	}, "decision"), ign)
	metadatatest.AssertEqualProcessorCoorlogHeldAlarms(t, tt, []metricdata.DataPoint[int64]{{Value: 10}}, ign)
	metadatatest.AssertEqualProcessorCoorlogCacheHits(t, tt, sumPoints(map[string]int64{"verdict": 0, "content": 11}, "cache"), ign)
}
