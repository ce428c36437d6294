package llm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// backend answers one chat question. The Evol-CoT flow above it is the same
// for the real endpoint and for the simulated LLM.
type backend interface {
	complete(ctx context.Context, q *question) (reply, error)
}

// question is one chat request plus what the simulated LLM needs to answer
// it (the real backend sends only Messages).
type question struct {
	Op       string
	Kind     promptKind
	Messages []message

	SessionID      string
	ReferenceLabel int // Evol Detect: label of the neighbour asked about
}

// reply is one answered request.
type reply struct {
	Content          string
	PromptTokens     int
	CompletionTokens int
	UsageReported    bool
	Attempts         int
	CutOff           bool // finish_reason "length": the answer hit MaxCompletionTokens
}

// openAIBackend talks to an OpenAI-compatible endpoint through openai-go.
// The SDK's own retries are off (WithMaxRetries(0)): retries, Retry-After,
// concurrency and budgets are handled here, where they are observable.
type openAIBackend struct {
	client openai.Client
	cfg    Config
	sem    chan struct{}
	budget *budget
	stats  *counters
	log    *slog.Logger
}

func newOpenAIBackend(cfg Config, stats *counters, log *slog.Logger) *openAIBackend {
	hc := cfg.HTTPClient
	if hc == nil {
		// Own transport: nothing shared with http.DefaultClient. The
		// per-attempt context enforces cfg.Timeout.
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	client := openai.NewClient(
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
	)
	return &openAIBackend{
		client: client, cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent),
		budget: newBudget(cfg.TokensPerMinute, cfg.MaxTokensPerHour, cfg.BudgetWait, nil),
		stats:  stats, log: log,
	}
}

func (b *openAIBackend) params(msgs []message) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model:       shared.ChatModel(b.cfg.Model),
		Temperature: openai.Float(b.cfg.Temperature),
		TopP:        openai.Float(b.cfg.TopP),
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONObject: &shared.ResponseFormatJSONObjectParam{},
		},
	}
	if b.cfg.LegacyMaxTokens {
		p.MaxTokens = openai.Int(int64(b.cfg.MaxCompletionTokens))
	} else {
		p.MaxCompletionTokens = openai.Int(int64(b.cfg.MaxCompletionTokens))
	}
	for _, m := range msgs {
		switch m.Role {
		case "system":
			p.Messages = append(p.Messages, openai.SystemMessage(m.Content))
		case "assistant":
			p.Messages = append(p.Messages, openai.AssistantMessage(m.Content))
		default:
			p.Messages = append(p.Messages, openai.UserMessage(m.Content))
		}
	}
	return p
}

// complete sends q with retries: exponential backoff with jitter on
// timeouts, 429, 5xx, connection errors and unreadable bodies, honouring
// Retry-After up to cfg.MaxRetryAfter. 401/403 and other 4xx fail at once.
func (b *openAIBackend) complete(ctx context.Context, q *question) (reply, error) {
	params := b.params(q.Messages)
	reserve := messagesTokens(q.Messages) + b.cfg.MaxCompletionTokens
	for attempt := 1; ; attempt++ {
		r, resp, ae := b.attempt(ctx, params, reserve)
		if ae == nil {
			r.Attempts = attempt
			return r, nil
		}
		err := ae.err
		err.Op, err.Attempts = q.Op, attempt
		if err.Kind != KindCanceled { // counted once per Judge call, in Judge.fail
			b.stats.errorOf(err.Kind)
		}
		if !ae.retryable || attempt > b.cfg.MaxRetries {
			return reply{Attempts: attempt}, err
		}
		delay := backoff(b.cfg.RetryBaseDelay, b.cfg.RetryMaxDelay, attempt)
		if ra, ok := retryAfter(resp, time.Now()); ok {
			if ra > b.cfg.MaxRetryAfter {
				err.detail = fmt.Sprintf("server asked to wait %v, more than max_retry_after %v", ra.Round(time.Second), b.cfg.MaxRetryAfter)
				return reply{Attempts: attempt}, err
			}
			delay = ra
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			err.detail = "no time left for another attempt"
			return reply{Attempts: attempt}, err
		}
		b.log.LogAttrs(ctx, slog.LevelDebug, "llm request failed; retrying",
			slog.String("op", q.Op), slog.String("kind", string(err.Kind)), slog.Int("status", err.StatusCode),
			slog.Int("attempt", attempt), slog.Duration("delay", delay))
		b.stats.retries.Add(1)
		if serr := sleepCtx(ctx, delay); serr != nil {
			return reply{Attempts: attempt}, &Error{Kind: KindCanceled, Op: q.Op, Attempts: attempt, ctxErr: serr}
		}
	}
}

// attemptError is a classified failure of one attempt.
type attemptError struct {
	err       *Error
	retryable bool
}

// attempt makes one HTTP request within the budget, the concurrency limit
// and cfg.Timeout.
func (b *openAIBackend) attempt(ctx context.Context, params openai.ChatCompletionNewParams, reserve int) (reply, *http.Response, *attemptError) {
	if err := ctx.Err(); err != nil {
		return reply{}, nil, &attemptError{err: &Error{Kind: KindCanceled, ctxErr: err}}
	}
	wait, err := b.budget.reserve(reserve)
	if err != nil {
		return reply{}, nil, &attemptError{err: &Error{Kind: KindBudget, detail: strings.TrimPrefix(err.Error(), ErrBudget.Error()+": ")}}
	}
	spent := reserve
	defer func() { b.budget.settle(reserve, spent) }()
	if wait > 0 {
		if err := sleepCtx(ctx, wait); err != nil {
			spent = 0
			return reply{}, nil, &attemptError{err: &Error{Kind: KindCanceled, ctxErr: err}}
		}
	}
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		spent = 0
		return reply{}, nil, &attemptError{err: &Error{Kind: KindCanceled, ctxErr: ctx.Err()}}
	}
	defer func() { <-b.sem }()

	actx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	b.stats.requests.Add(1)
	var resp *http.Response
	cc, err := b.client.Chat.Completions.New(actx, params, option.WithResponseInto(&resp))
	if err != nil {
		ae := classify(ctx, actx, resp, err)
		if ae.err.StatusCode >= 400 || ae.err.Kind == KindNetwork || ae.err.Kind == KindCanceled {
			spent = 0 // nothing was generated
		}
		return reply{}, resp, ae
	}
	r := reply{}
	if len(cc.Choices) > 0 {
		r.Content = cc.Choices[0].Message.Content
		r.CutOff = cc.Choices[0].FinishReason == "length"
	}
	if cc.JSON.Usage.Valid() && cc.Usage.PromptTokens+cc.Usage.CompletionTokens > 0 {
		r.PromptTokens, r.CompletionTokens, r.UsageReported = int(cc.Usage.PromptTokens), int(cc.Usage.CompletionTokens), true
		spent = r.PromptTokens + r.CompletionTokens
	} else {
		spent = reserve - b.cfg.MaxCompletionTokens + estimateTokens(r.Content)
	}
	return r, resp, nil
}

// classify turns an SDK/transport error into our words. The SDK's own
// message is never kept: bodies and requests stay out of our errors.
func classify(parent, attemptCtx context.Context, resp *http.Response, err error) *attemptError {
	if perr := parent.Err(); perr != nil {
		return &attemptError{err: &Error{Kind: KindCanceled, ctxErr: perr}}
	}
	status := 0
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		status = apiErr.StatusCode
	} else if resp != nil && resp.StatusCode >= 400 {
		status = resp.StatusCode // error body the SDK could not decode
	}
	switch {
	case status == http.StatusTooManyRequests:
		return &attemptError{err: &Error{Kind: KindRateLimited, StatusCode: status}, retryable: true}
	case status == http.StatusRequestTimeout:
		return &attemptError{err: &Error{Kind: KindTimeout, StatusCode: status}, retryable: true}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return &attemptError{err: &Error{Kind: KindAuth, StatusCode: status, detail: "check api_key"}}
	case status == http.StatusConflict || status >= 500:
		return &attemptError{err: &Error{Kind: KindServerError, StatusCode: status}, retryable: true}
	case status >= 400:
		return &attemptError{err: &Error{Kind: KindClientError, StatusCode: status, detail: "request rejected (check model and base_url)"}}
	}
	if errors.Is(attemptCtx.Err(), context.DeadlineExceeded) {
		return &attemptError{err: &Error{Kind: KindTimeout}, retryable: true}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &attemptError{err: &Error{Kind: KindTimeout}, retryable: true}
	}
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &uaErr), errors.As(err, &hostErr):
		return &attemptError{err: &Error{Kind: KindNetwork, detail: "TLS certificate rejected"}}
	case errors.As(err, &recErr) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return &attemptError{err: &Error{Kind: KindNetwork, detail: "TLS handshake failed (plain HTTP endpoint?)"}}
	case strings.Contains(err.Error(), "tls: "):
		return &attemptError{err: &Error{Kind: KindNetwork, detail: "TLS handshake failed"}}
	case errors.As(err, &dnsErr):
		return &attemptError{err: &Error{Kind: KindNetwork, detail: "DNS lookup failed"}, retryable: !dnsErr.IsNotFound}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &attemptError{err: &Error{Kind: KindNetwork, detail: "connection refused"}, retryable: true}
	case errors.Is(err, syscall.ECONNRESET):
		return &attemptError{err: &Error{Kind: KindNetwork, detail: "connection reset"}, retryable: true}
	}
	if resp != nil {
		// The status was fine but the body was cut short or is not a chat
		// completion: treat like a flaky server.
		detail := "unreadable response body"
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			detail = "response body cut short"
		}
		return &attemptError{err: &Error{Kind: KindInvalidResponse, StatusCode: resp.StatusCode, detail: detail}, retryable: true}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &attemptError{err: &Error{Kind: KindNetwork, detail: "connection failed"}, retryable: true}
	}
	return &attemptError{err: &Error{Kind: KindNetwork, detail: "request failed"}, retryable: true}
}

// backoff is base·2^(attempt−1) capped at max, with jitter drawn from
// [d/2, d] so that synchronised clients spread out.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads the server's wait demand: "retry-after-ms" (milliseconds),
// then "Retry-After" as seconds or as an HTTP date.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	if v := resp.Header.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms >= 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || s > 1e9 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
