package coorlogprocessor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/internal/metadatatest"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// fakeTeacher records requests and answers like model.Cascade: it knows the
// sessions in known.
type fakeTeacher struct {
	mu    sync.Mutex
	known map[string]bool
	log   []bundle.Feedback
}

func (f *fakeTeacher) Teach(_ context.Context, r model.FeedbackRequest) (bundle.Feedback, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !bundle.ValidFeedbackAction(r.Action) {
		return bundle.Feedback{}, model.ErrBadFeedback
	}
	if len(r.Lines) == 0 && !f.known[r.SessionID] {
		return bundle.Feedback{}, model.ErrUnknownSession
	}
	e := bundle.Feedback{ID: "fb-" + string(rune('0'+len(f.log)+1)), Action: r.Action, Key: "k", SessionID: r.SessionID, Who: r.Who, Why: r.Why, Time: time.Now()}
	f.log = append(f.log, e)
	return e, nil
}

func (f *fakeTeacher) Undo(_ context.Context, id, who string) (bundle.Feedback, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.log {
		if f.log[i].ID == id && f.log[i].Active() {
			f.log[i].Undone, f.log[i].UndoneBy = time.Now(), who
			return f.log[i], nil
		}
	}
	return bundle.Feedback{}, model.ErrUnknownFeedback
}

func (f *fakeTeacher) Feedback() []bundle.Feedback {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bundle.Feedback(nil), f.log...)
}

func (f *fakeTeacher) ModelVersion() string { return "v1" }

type counted struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counted) add(_ context.Context, result string) {
	c.mu.Lock()
	c.n[result]++
	c.mu.Unlock()
}

func do(t *testing.T, h http.Handler, ctx context.Context, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body)).WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), "answers are JSON: %s", rec.Body.String())
	return rec.Code, out
}

type authData map[string]any

func (a authData) GetAttribute(k string) any { return a[k] }
func (a authData) GetAttributeNames() []string {
	var ks []string
	for k := range a {
		ks = append(ks, k)
	}
	return ks
}

func TestFeedbackEndpoint(t *testing.T) {
	ft := &fakeTeacher{known: map[string]bool{"blk_1": true}}
	c := &counted{n: map[string]int{}}
	f := newFeedbackServer(func() teacher { return ft }, 100, c.add, zap.NewNop())
	h := f.handler()
	ctx := client.NewContext(context.Background(), client.Info{Auth: authData{"username": "alice"}})

	code, out := do(t, h, ctx, http.MethodPost, "/v1/feedback", `{"session_id":"blk_1","label":"normal","reason":"planned failover"}`)
	require.Equal(t, http.StatusCreated, code, out)
	assert.Equal(t, "fb-1", out["id"])
	assert.Equal(t, "alice", out["who"], "who comes from the authenticator")
	assert.Equal(t, "planned failover", out["why"])

	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"not JSON", http.MethodPost, "/v1/feedback", `label=normal`, http.StatusBadRequest},
		{"unknown field", http.MethodPost, "/v1/feedback", `{"session_id":"blk_1","label":"normal","lable":"x"}`, http.StatusBadRequest},
		{"two objects", http.MethodPost, "/v1/feedback", `{"session_id":"blk_1","label":"normal"} {"session_id":"blk_1","label":"anomalous"}`, http.StatusBadRequest},
		{"bad label", http.MethodPost, "/v1/feedback", `{"session_id":"blk_1","label":"fine"}`, http.StatusBadRequest},
		{"unknown session", http.MethodPost, "/v1/feedback", `{"session_id":"blk_2","label":"normal"}`, http.StatusNotFound},
		{"unknown feedback id", http.MethodDelete, "/v1/feedback/fb-9", ``, http.StatusNotFound},
	} {
		code, out := do(t, h, ctx, tc.method, tc.path, tc.body)
		assert.Equal(t, tc.want, code, "%s: %v", tc.name, out)
		assert.NotEmpty(t, out["error"], tc.name)
	}

	code, out = do(t, h, ctx, http.MethodDelete, "/v1/feedback/fb-1", ``)
	require.Equal(t, http.StatusOK, code, out)
	assert.Equal(t, "alice", out["undone_by"])

	code, out = do(t, h, ctx, http.MethodGet, "/v1/feedback", ``)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["feedback"], 1)
	assert.Equal(t, map[string]int{feedbackAccepted: 1, feedbackUndone: 1, feedbackRejected: 6}, c.n)
}

func TestFeedbackEndpointRateLimitAndLearnMode(t *testing.T) {
	ft := &fakeTeacher{known: map[string]bool{"blk_1": true}}
	c := &counted{n: map[string]int{}}
	var ready bool
	f := newFeedbackServer(func() teacher {
		if !ready {
			return nil
		}
		return ft
	}, 3, c.add, zap.NewNop())
	now := time.Unix(1000, 0)
	f.limit = newTokenBucket(3, time.Minute, func() time.Time { return now })
	h := f.handler()
	ctx := context.Background()

	code, out := do(t, h, ctx, http.MethodPost, "/v1/feedback", `{"session_id":"blk_1","label":"normal"}`)
	assert.Equal(t, http.StatusConflict, code, "learn mode still collecting: %v", out)
	code, out = do(t, h, ctx, http.MethodGet, "/v1/feedback", ``)
	assert.Equal(t, http.StatusOK, code)
	assert.Empty(t, out["feedback"])

	ready = true
	for range 2 {
		code, _ := do(t, h, ctx, http.MethodPost, "/v1/feedback", `{"session_id":"blk_1","label":"normal"}`)
		assert.Equal(t, http.StatusCreated, code)
	}
	code, out = do(t, h, ctx, http.MethodPost, "/v1/feedback", `{"session_id":"blk_1","label":"normal"}`)
	assert.Equal(t, http.StatusTooManyRequests, code, out)
	assert.Len(t, ft.Feedback(), 2, "a refused request changes nothing")
	now = now.Add(20 * time.Second) // one token back
	code, _ = do(t, h, ctx, http.MethodPost, "/v1/feedback", `{"session_id":"blk_1","label":"anomalous"}`)
	assert.Equal(t, http.StatusCreated, code)
	assert.Equal(t, map[string]int{feedbackAccepted: 3, feedbackRejected: 2}, c.n)
	assert.Empty(t, ft.Feedback()[0].Who, "no authenticator: nobody named")
}

// The component opens the endpoint at Start, counts in its telemetry, and
// closes it at Shutdown.
func TestComponentServesFeedback(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := testConfig()
	cfg.Feedback.NetAddr.Endpoint = "127.0.0.1:0"
	proc, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	ft := &fakeTeacher{known: map[string]bool{"blk_1": true}}
	proc.(*coorlogProcessor).build = func(context.Context, *Config, model.Judge, *zap.Logger) (modelSet, error) {
		return modelSet{detector: &fakeDetector{}, version: "fake-1", cascade: func() teacher { return ft },
			close: func(context.Context) error { return nil }}, nil
	}
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	addr := proc.(*coorlogProcessor).feedback.addr

	post := func(body string) int {
		resp, err := http.Post("http://"+addr+"/v1/feedback", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusCreated, post(`{"session_id":"blk_1","label":"normal","reason":"drill"}`))
	assert.Equal(t, http.StatusNotFound, post(`{"session_id":"blk_9","label":"normal"}`))
	metadatatest.AssertEqualProcessorCoorlogFeedback(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("result", feedbackAccepted)), Value: 1},
		{Attributes: attribute.NewSet(attribute.String("result", feedbackRejected)), Value: 1},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()) // the server traces its requests

	require.NoError(t, proc.Shutdown(context.Background()))
	_, err = http.Post("http://"+addr+"/v1/feedback", "application/json", strings.NewReader(`{}`))
	assert.Error(t, err, "the endpoint closes at Shutdown")
}
