package llm

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// Config configures the LLM stage. Start from DefaultConfig and override what
// you need: New fills fields whose zero value is meaningless (timeouts, caps,
// sizes) with their defaults, but sends the zero value of fields where zero is
// a legitimate choice (Temperature, MaxRetries, UncertaintyThreshold, the
// token budgets where 0 means "no limit").
type Config struct {
	// BaseURL of an OpenAI-compatible API, including the version prefix
	// (https://api.openai.com/v1, http://localhost:11434/v1 for Ollama,
	// http://host:8000/v1 for vLLM). Required.
	BaseURL string
	// Model name sent with every request. Required.
	Model string
	// APIKey is sent as a bearer token. It never appears in logs, errors or
	// Stats. Empty is allowed for local servers that need no key.
	APIKey string

	Temperature float64 // sampling temperature; DefaultConfig: 0.01 (as in the method)
	TopP        float64 // nucleus sampling; 0 = default 0.95
	// MaxCompletionTokens bounds each answer (the answers are tiny JSON
	// objects); 0 = default 256. Also reserved against the token budget.
	MaxCompletionTokens int
	// LegacyMaxTokens sends the bound as "max_tokens" instead of
	// "max_completion_tokens", for older OpenAI-compatible servers.
	LegacyMaxTokens bool

	// Timeout bounds one HTTP attempt (connect to last byte); 0 = 30 s.
	Timeout time.Duration
	// MaxRetries is the number of extra attempts after a retryable failure
	// (timeout, 429, 5xx, connection error, unreadable body). 0 = no retries.
	MaxRetries int
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff
	// (base*2^attempt, capped, with jitter in [d/2, d]); 0 = 500 ms and 10 s.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// MaxRetryAfter caps a server's Retry-After; a longer demand fails the
	// call at once (rate_limited) instead of stalling the pipeline; 0 = 30 s.
	MaxRetryAfter time.Duration

	// MaxConcurrent bounds in-flight HTTP requests across all sessions; 0 = 4.
	MaxConcurrent int
	// TokensPerMinute is a token-bucket budget (capacity = TokensPerMinute,
	// refilled continuously). A request reserves its estimated prompt tokens
	// plus MaxCompletionTokens; when the bucket cannot cover it the call fails
	// with ErrBudget immediately (after waiting at most BudgetWait), so the
	// cascade falls back instead of queueing. 0 = unlimited.
	TokensPerMinute int
	// BudgetWait is how long a request may wait for the bucket to refill
	// before failing with ErrBudget; 0 = fail immediately.
	BudgetWait time.Duration
	// MaxTokensPerHour is a hard cap over a rolling 60-minute window of
	// tokens actually used (reported or estimated). 0 = unlimited.
	MaxTokensPerHour int

	// TopK neighbours judged by Evol Detect (one request each); 0 = 3.
	TopK int
	// UncertaintyThreshold selects the AD prompt: uncertainty (binary entropy
	// of the similarity-weighted abnormal share, in bits, 0..1) above it uses
	// the "uncertain" prompt. DefaultConfig: 0.5.
	UncertaintyThreshold float64
	// UncertainExamples is how many similar abnormal and similar normal
	// sessions the uncertain prompt shows side by side (each); 0 = 2.
	UncertainExamples int

	// Prompt size caps (after redaction). A session above a cap keeps its
	// first and last lines and says how many were omitted. 0 = defaults:
	// 80 lines / 8 KiB per session, 40 lines / 4 KiB per neighbour, 400 bytes
	// per line.
	MaxSessionLines   int
	MaxSessionBytes   int
	MaxNeighbourLines int
	MaxNeighbourBytes int
	MaxLineBytes      int
	MaxReasonBytes    int // reason kept for the record attribute; 0 = 300
	CacheSize         int // verdict cache entries (LRU); 0 = 10000, < 0 disables the cache

	// Redact adds regular expressions (RE2 syntax) whose matches are replaced
	// by "<REDACTED>" in every log line before it is put in a prompt. A named
	// group "secret" limits the replacement to that group. They run after the
	// defaults (DefaultRedactions) unless NoDefaultRedact is set.
	Redact          []string
	NoDefaultRedact bool

	// HTTPClient carries requests (the collector builds it from confighttp:
	// TLS, proxy, headers). Nil = a client with Timeout as its overall limit.
	HTTPClient *http.Client
	// Logger receives retry and failure notes (never prompts, keys or raw
	// bodies). Nil = discard.
	Logger *slog.Logger
	// CacheKey maps a session's lines to its verdict-cache key. Nil =
	// normalize.TemplateKey (the normalised template sequence). A coarser key,
	// the set of line shapes (normalize.Shape), cut LLM requests on NATS from
	// 7.7-11.7% to 1.1-3.4% of the sessions but spread one answer over every
	// session of a shape set: in learn mode on the held-out Caddy it labelled
	// normal contents anomalous (F1 0.87 -> 0.38; BENCHMARKS.md, "Real
	// upgrades").
	CacheKey func(lines []string) string
}

// DefaultConfig returns the documented defaults; BaseURL and Model still
// have to be set.
func DefaultConfig() Config {
	return Config{
		Temperature:          0.01,
		TopP:                 0.95,
		MaxCompletionTokens:  256,
		Timeout:              30 * time.Second,
		MaxRetries:           3,
		RetryBaseDelay:       500 * time.Millisecond,
		RetryMaxDelay:        10 * time.Second,
		MaxRetryAfter:        30 * time.Second,
		MaxConcurrent:        4,
		TopK:                 3,
		UncertaintyThreshold: 0.5,
		UncertainExamples:    2,
		MaxSessionLines:      80,
		MaxSessionBytes:      8 << 10,
		MaxNeighbourLines:    40,
		MaxNeighbourBytes:    4 << 10,
		MaxLineBytes:         400,
		MaxReasonBytes:       300,
		CacheSize:            10000,
	}
}

// withDefaults fills the fields whose zero value has no useful meaning.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	if c.TopP == 0 {
		c.TopP = d.TopP
	}
	setInt(&c.MaxCompletionTokens, d.MaxCompletionTokens)
	setDur(&c.Timeout, d.Timeout)
	setDur(&c.RetryBaseDelay, d.RetryBaseDelay)
	setDur(&c.RetryMaxDelay, d.RetryMaxDelay)
	setDur(&c.MaxRetryAfter, d.MaxRetryAfter)
	setInt(&c.MaxConcurrent, d.MaxConcurrent)
	setInt(&c.TopK, d.TopK)
	setInt(&c.UncertainExamples, d.UncertainExamples)
	setInt(&c.MaxSessionLines, d.MaxSessionLines)
	setInt(&c.MaxSessionBytes, d.MaxSessionBytes)
	setInt(&c.MaxNeighbourLines, d.MaxNeighbourLines)
	setInt(&c.MaxNeighbourBytes, d.MaxNeighbourBytes)
	setInt(&c.MaxLineBytes, d.MaxLineBytes)
	setInt(&c.MaxReasonBytes, d.MaxReasonBytes)
	setInt(&c.CacheSize, d.CacheSize)
	return c
}

// Validate reports every invalid field at once. It never echoes APIKey.
func (c Config) Validate() error {
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, errors.New("base_url is required"))
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("base_url must be an absolute http(s) URL"))
	} else if u.User != nil {
		errs = append(errs, errors.New("base_url must not carry credentials; use api_key"))
	}
	if c.Model == "" {
		errs = append(errs, errors.New("model is required"))
	}
	if c.Temperature < 0 || c.Temperature > 2 {
		errs = append(errs, fmt.Errorf("temperature %v out of [0, 2]", c.Temperature))
	}
	if c.TopP < 0 || c.TopP > 1 {
		errs = append(errs, fmt.Errorf("top_p %v out of (0, 1]", c.TopP))
	}
	if c.UncertaintyThreshold < 0 || c.UncertaintyThreshold > 1 {
		errs = append(errs, fmt.Errorf("uncertainty_threshold %v out of [0, 1]", c.UncertaintyThreshold))
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"max_completion_tokens", c.MaxCompletionTokens}, {"max_retries", c.MaxRetries},
		{"max_concurrent", c.MaxConcurrent}, {"tokens_per_minute", c.TokensPerMinute},
		{"max_tokens_per_hour", c.MaxTokensPerHour}, {"top_k", c.TopK},
		{"uncertain_examples", c.UncertainExamples}, {"max_session_lines", c.MaxSessionLines},
		{"max_session_bytes", c.MaxSessionBytes}, {"max_neighbour_lines", c.MaxNeighbourLines},
		{"max_neighbour_bytes", c.MaxNeighbourBytes}, {"max_line_bytes", c.MaxLineBytes},
		{"max_reason_bytes", c.MaxReasonBytes},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s must be >= 0, got %d", f.name, f.v))
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"timeout", c.Timeout}, {"retry_base_delay", c.RetryBaseDelay}, {"retry_max_delay", c.RetryMaxDelay},
		{"max_retry_after", c.MaxRetryAfter}, {"budget_wait", c.BudgetWait},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s must be >= 0, got %v", f.name, f.v))
		}
	}
	if c.MaxLineBytes > 0 && c.MaxLineBytes < 16 {
		errs = append(errs, fmt.Errorf("max_line_bytes must be >= 16, got %d", c.MaxLineBytes))
	}
	for i, p := range c.Redact {
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("redact[%d]: %w", i, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("llm config: %w", errors.Join(errs...))
	}
	return nil
}
