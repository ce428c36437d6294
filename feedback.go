package coorlogprocessor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// The operator feedback endpoint (FeedbackConfig). It is an HTTP server of
// its own, not log records sent through the pipeline's receivers: whoever
// can write logs into a pipeline would otherwise be able to retrain the
// model (log content is untrusted input), and OTLP has no per-record answer
// to tell an operator that a label was refused. Here the endpoint has its own
// TLS and authenticator (which names who spoke), and every request gets an
// answer: 201 with the stored entry, or an error status with the reason.
//
//	POST   /v1/feedback       {"session_id": ID | "lines": [...], "label": "normal"|"anomalous"|"suppress", "reason": "..."}
//	GET    /v1/feedback       {"feedback": [entries, oldest first, undone ones included]}
//	DELETE /v1/feedback/{id}  the undone entry
//
// Refusals (400 malformed, 404 unknown session or feedback id, 409 learn mode
// still collecting, 429 over rate_limit, 500 the model could not be changed)
// change nothing and are counted (otelcol_processor_coorlog_feedback).

// teacher is what the endpoint needs of the cascade (model.Cascade).
type teacher interface {
	Teach(ctx context.Context, r model.FeedbackRequest) (bundle.Feedback, error)
	Undo(ctx context.Context, id, who string) (bundle.Feedback, error)
	Feedback() []bundle.Feedback
	ModelVersion() string
}

// feedbackServer serves operator feedback against the running cascade.
type feedbackServer struct {
	cascade func() teacher // nil while learn mode collects
	limit   *tokenBucket
	count   func(ctx context.Context, result string)
	log     *zap.Logger

	srv  *http.Server
	addr string // where it listens, once started
	done chan struct{}
}

// Feedback results (the metric's result attribute).
const (
	feedbackAccepted = "accepted"
	feedbackUndone   = "undone"
	feedbackRejected = "rejected"
)

// maxFeedbackLines bounds a request's lines (the memory keeps 32 of them).
const maxFeedbackLines = 10_000

type feedbackRequest struct {
	SessionID string   `json:"session_id"`
	Lines     []string `json:"lines"`
	Label     string   `json:"label"`
	Reason    string   `json:"reason"`
}

func newFeedbackServer(cascade func() teacher, perMinute int, count func(context.Context, string), log *zap.Logger) *feedbackServer {
	return &feedbackServer{cascade: cascade, limit: newTokenBucket(perMinute, time.Minute, time.Now), count: count, log: log}
}

func (f *feedbackServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/feedback", f.teach)
	mux.HandleFunc("GET /v1/feedback", f.list)
	mux.HandleFunc("DELETE /v1/feedback/{id}", f.undo)
	return mux
}

// start listens on the configured endpoint and serves until shutdown.
func (f *feedbackServer) start(ctx context.Context, cfg FeedbackConfig, host component.Host, set component.TelemetrySettings) error {
	ln, err := cfg.ServerConfig.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("feedback: listening on %s: %w", cfg.NetAddr.Endpoint, err)
	}
	srv, err := cfg.ServerConfig.ToServer(ctx, host.GetExtensions(), set, f.handler())
	if err != nil {
		ln.Close()
		return fmt.Errorf("feedback: %w", err)
	}
	f.srv, f.addr, f.done = srv, ln.Addr().String(), make(chan struct{})
	go func() {
		defer close(f.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.log.Error("coorlog: feedback endpoint stopped", zap.Error(err))
		}
	}()
	f.log.Info("coorlog: operator feedback endpoint listening", zap.String("endpoint", ln.Addr().String()))
	return nil
}

func (f *feedbackServer) shutdown(ctx context.Context) error {
	if f.srv == nil {
		return nil
	}
	err := f.srv.Shutdown(ctx)
	<-f.done
	return err
}

func (f *feedbackServer) teach(w http.ResponseWriter, r *http.Request) {
	var req feedbackRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		f.refuse(w, r, http.StatusBadRequest, fmt.Errorf("the body is not a feedback object: %w", err))
		return
	}
	if dec.More() {
		f.refuse(w, r, http.StatusBadRequest, errors.New("the body holds more than one feedback object; send one per request"))
		return
	}
	if len(req.Lines) > maxFeedbackLines {
		f.refuse(w, r, http.StatusBadRequest, fmt.Errorf("%d lines: at most %d", len(req.Lines), maxFeedbackLines))
		return
	}
	c, ok := f.ready(w, r)
	if !ok {
		return
	}
	entry, err := c.Teach(r.Context(), model.FeedbackRequest{Action: req.Label, SessionID: req.SessionID, Lines: req.Lines, Who: who(r.Context()), Why: req.Reason})
	if err != nil {
		f.refuse(w, r, statusOf(err), err)
		return
	}
	f.count(r.Context(), feedbackAccepted)
	f.log.Info("coorlog: operator feedback applied", zap.String("id", entry.ID), zap.String("label", entry.Action),
		zap.String("session_id", entry.SessionID), zap.String("who", entry.Who), zap.String("model_version", c.ModelVersion()))
	writeJSON(w, http.StatusCreated, entry)
}

func (f *feedbackServer) undo(w http.ResponseWriter, r *http.Request) {
	c, ok := f.ready(w, r)
	if !ok {
		return
	}
	entry, err := c.Undo(r.Context(), r.PathValue("id"), who(r.Context()))
	if err != nil {
		f.refuse(w, r, statusOf(err), err)
		return
	}
	f.count(r.Context(), feedbackUndone)
	f.log.Info("coorlog: operator feedback undone", zap.String("id", entry.ID), zap.String("who", entry.UndoneBy))
	writeJSON(w, http.StatusOK, entry)
}

func (f *feedbackServer) list(w http.ResponseWriter, _ *http.Request) {
	entries := []bundle.Feedback{}
	if c := f.cascade(); c != nil {
		entries = append(entries, c.Feedback()...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"feedback": entries})
}

// ready takes a token and returns the cascade, or refuses the request.
func (f *feedbackServer) ready(w http.ResponseWriter, r *http.Request) (teacher, bool) {
	if !f.limit.take() {
		f.refuse(w, r, http.StatusTooManyRequests, errors.New("over feedback.rate_limit; try again in a minute"))
		return nil, false
	}
	c := f.cascade()
	if c == nil {
		f.refuse(w, r, http.StatusConflict, errors.New("learn mode is still collecting its learning sessions; there is no model to teach yet"))
		return nil, false
	}
	return c, true
}

func (f *feedbackServer) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	f.count(r.Context(), feedbackRejected)
	f.log.Warn("coorlog: operator feedback refused", zap.Int("status", status), zap.Error(err))
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, model.ErrBadFeedback):
		return http.StatusBadRequest
	case errors.Is(err, model.ErrUnknownSession), errors.Is(err, model.ErrUnknownFeedback):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// who names the operator as the authenticator extension tells it (basicauth
// sets username; OIDC and bearer-token authenticators a subject), else "".
func who(ctx context.Context) string {
	info := client.FromContext(ctx)
	if info.Auth == nil {
		return ""
	}
	for _, k := range []string{"username", "subject", "sub", "client_id"} {
		if v, ok := info.Auth.GetAttribute(k).(string); ok && v != "" {
			return v
		}
	}
	return ""
}

// tokenBucket allows n events per period, refilled continuously, in bursts
// of at most n.
type tokenBucket struct {
	n      float64
	period time.Duration
	now    func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(n int, period time.Duration, now func() time.Time) *tokenBucket {
	return &tokenBucket{n: float64(n), period: period, now: now, tokens: float64(n), last: now()}
}

func (b *tokenBucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	b.tokens = min(b.n, b.tokens+b.n*float64(t.Sub(b.last))/float64(b.period))
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
