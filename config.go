package coorlogprocessor // import "github.com/coorlog/coorlogprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/coorlog/coorlogprocessor/model/encoder"
	streaming "github.com/coorlog/coorlogprocessor/processor"
)

// Modes of operation.
const (
	// ModeDetect scores sessions against a trained model bundle (model_path).
	ModeDetect = "detect"
	// ModeLearn bootstraps without labels: the first sessions are assumed
	// normal, a model is trained on them, then the processor detects.
	ModeLearn = "learn"
)

// Config is the coorlog processor's configuration. Defaults are set in
// createDefaultConfig, from the packages that own each behaviour, and listed
// in the README ("Configuration").
type Config struct {
	// Mode is detect or learn. Empty means detect when ModelPath is set and
	// learn when it is not.
	Mode string `mapstructure:"mode"`
	// ModelPath is the model bundle directory written by `coorlog train` (or
	// by learn mode, which persists what it learnt there when set).
	ModelPath string `mapstructure:"model_path"`
	// ModelReloadInterval, when positive, makes this collector follow the
	// bundle at ModelPath: it checks the file this often and swaps in a
	// newer one (another replica with AEM on writes it). 0 = never. A
	// follower does not learn itself, so it excludes aem.enabled and the
	// feedback endpoint (they belong to the replica that writes the bundle).
	ModelReloadInterval time.Duration `mapstructure:"model_reload_interval"`

	Encoder EncoderConfig `mapstructure:"encoder"`
	Session SessionConfig `mapstructure:"session"`

	// Workers score closed sessions concurrently.
	Workers int `mapstructure:"workers"`
	// QueueSize bounds the closed sessions waiting for a worker; beyond it,
	// sessions are scored on the fast path only (never dropped).
	QueueSize int `mapstructure:"queue_size"`
	// Pending lets sessions wait for the LLM without holding a worker.
	Pending PendingConfig `mapstructure:"pending"`
	// AttributePrefix is prepended to every attribute the processor writes.
	AttributePrefix string `mapstructure:"attribute_prefix"`
	// Attributes is compact, full or minimal: whether the records of a
	// session judged normal all carry the whole verdict (full), or only its
	// first record does and the others carry is_anomaly (compact) or
	// nothing (minimal).
	Attributes string `mapstructure:"attributes"`
	// EmitSummary adds one summary log record per anomalous session.
	EmitSummary bool `mapstructure:"emit_summary"`
	// WriteTemplate writes our normalised template on every record that
	// arrives without one, as log.record.template. Records that arrive with
	// one (a drainprocessor upstream) keep it, and their templates key the
	// session's content whether this is set or not.
	WriteTemplate bool `mapstructure:"write_template"`

	Learn    LearnConfig    `mapstructure:"learn"`
	AEM      AEMConfig      `mapstructure:"aem"`
	LLM      LLMConfig      `mapstructure:"llm"`
	Feedback FeedbackConfig `mapstructure:"feedback"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// EncoderConfig selects the line encoder.
type EncoderConfig struct {
	// Path is a Hugging Face BERT checkpoint directory; empty uses the
	// embedded default encoder.
	Path string `mapstructure:"path"`
	// Pooling is mean or cls (encoder.ParsePooling).
	Pooling   string `mapstructure:"pooling"`
	MaxSeqLen int    `mapstructure:"max_seq_len"`
	BatchSize int    `mapstructure:"batch_size"`
	// Threads is libtorch's intra-op thread count; 0 keeps libtorch's default.
	Threads int `mapstructure:"threads"`
	// CacheSize bounds the embedding cache (entries, keyed by normalised line).
	CacheSize int `mapstructure:"cache_size"`
}

// SessionConfig says how records are grouped and when a session closes.
type SessionConfig struct {
	Key KeyConfig `mapstructure:"key"`
	// MissingKey is resource_session (one fallback session per resource) or
	// pass_through (forwarded unannotated at once).
	MissingKey        string        `mapstructure:"missing_key"`
	MaxRecords        int           `mapstructure:"max_records"`
	InactivityTimeout time.Duration `mapstructure:"inactivity_timeout"`
	MaxOpenSessions   int           `mapstructure:"max_open_sessions"`
	// MaxBufferedBytes caps the bodies held in open sessions; the oldest
	// sessions are flushed (scored), never dropped, when it is exceeded.
	MaxBufferedBytes int `mapstructure:"max_buffered_bytes"`
	// MaxLineBytes truncates the text given to the detector (records are
	// forwarded whole).
	MaxLineBytes int `mapstructure:"max_line_bytes"`
}

// PendingConfig bounds the sessions that wait for the LLM without holding a
// worker. A session the LLM has not answered within LateAfter goes out at
// once, anomaly.route=pending and not anomalous, and its final verdict
// follows in a record of its own (anomaly.late=true). Beyond MaxSessions a
// session takes the fast path (overload), as for a full queue; 0 makes a
// worker wait for the LLM itself.
type PendingConfig struct {
	MaxSessions int           `mapstructure:"max_sessions"`
	LateAfter   time.Duration `mapstructure:"late_after"`
}

// KeyConfig locates a record's session key.
type KeyConfig struct {
	// Source is attribute, resource_attribute, trace_id or body_regex.
	Source streaming.KeySource `mapstructure:"source"`
	// Name is the attribute name for attribute and resource_attribute.
	Name string `mapstructure:"name"`
	// Regex is matched against the body for body_regex; the first capture
	// group is the key when there is one, else the whole match.
	Regex string `mapstructure:"regex"`
}

// LearnConfig bounds the bootstrap phase of learn mode (it ends at whichever
// limit comes first) and screens what it learns: sessions that look unusual
// (a warning-or-worse line, a rare line shape or combination, an outlying length) are reviewed by
// the LLM within review_budget, and the rest of them stay out of the model
// instead of being learnt as normal. Without an LLM every suspect stays out.
type LearnConfig struct {
	Sessions int           `mapstructure:"sessions"`
	Duration time.Duration `mapstructure:"duration"`
	// Screen false takes every learning session as normal.
	Screen bool `mapstructure:"screen"`
	// ReviewBudget is the share of the learning sessions whose review may
	// cost an LLM request, in (0, 1].
	ReviewBudget float64 `mapstructure:"review_budget"`
}

// AEMConfig controls the adaptive evolution mechanism's background updater.
type AEMConfig struct {
	Enabled   bool          `mapstructure:"enabled"`
	Interval  time.Duration `mapstructure:"interval"`
	BatchSize int           `mapstructure:"batch_size"`
}

// LLMConfig configures the OpenAI-compatible endpoint that judges evolved
// sessions. An empty endpoint disables the LLM stage: evolved sessions then
// get the small model's verdict with route fallback.
type LLMConfig struct {
	// ClientConfig carries endpoint (the API base URL, e.g.
	// http://localhost:11434/v1), timeout (per request), headers and tls.
	confighttp.ClientConfig `mapstructure:",squash"`

	APIKey           configopaque.String `mapstructure:"api_key"`
	Model            string              `mapstructure:"model"`
	Temperature      float64             `mapstructure:"temperature"`
	TopP             float64             `mapstructure:"top_p"`
	MaxRetries       int                 `mapstructure:"max_retries"`
	MaxConcurrent    int                 `mapstructure:"max_concurrent"`
	TokensPerMinute  int                 `mapstructure:"tokens_per_minute"`
	MaxTokensPerHour int                 `mapstructure:"max_tokens_per_hour"`
	// TopK is the number of retrieved neighbours shown to the LLM.
	TopK int `mapstructure:"top_k"`
	// Redact lists extra regular expressions whose matches are masked in
	// prompts, on top of the LLM stage's built-in patterns (emails, IPs,
	// tokens, keys).
	Redact []string `mapstructure:"redact"`
}

// FeedbackConfig opens the operator feedback endpoint: HTTP with JSON, on the
// collector's server settings (endpoint, tls, auth with an authenticator
// extension, which also tells who gave the feedback). An operator labels a
// session (by its session.id attribute) or a content as normal or anomalous,
// or suppresses a content; lists what was said; undoes it. Off while the
// endpoint is empty. See README "Operator feedback".
type FeedbackConfig struct {
	confighttp.ServerConfig `mapstructure:",squash"`
	// RateLimit is the most labels and undos accepted per minute; beyond it
	// requests are refused (HTTP 429) and counted.
	RateLimit int `mapstructure:"rate_limit"`
	// RecentSessions is how many of the latest sessions can be labelled by
	// their id (each kept as at most 32 lines of 256 bytes and its vector).
	RecentSessions int `mapstructure:"recent_sessions"`
}

// Enabled reports whether the feedback endpoint is configured.
func (c FeedbackConfig) Enabled() bool { return c.NetAddr.Endpoint != "" }

func (c FeedbackConfig) validate() []error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	positive(add, "feedback.rate_limit", c.RateLimit)
	positive(add, "feedback.recent_sessions", c.RecentSessions)
	return errs
}

// Enabled reports whether an LLM endpoint is configured.
func (c LLMConfig) Enabled() bool { return c.Endpoint != "" }

var _ component.Config = (*Config)(nil)

// EffectiveMode resolves an empty Mode from ModelPath.
func (c *Config) EffectiveMode() string {
	if c.Mode != "" {
		return c.Mode
	}
	if c.ModelPath == "" {
		return ModeLearn
	}
	return ModeDetect
}

// Validate checks the configuration; each error names the field at fault.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}

	switch c.Mode {
	case "", ModeLearn:
	case ModeDetect:
		if c.ModelPath == "" {
			add("model_path", "required in mode %q (train one with `coorlog train`, or use mode learn)", ModeDetect)
		}
	default:
		add("mode", "%q is not one of %q, %q", c.Mode, ModeDetect, ModeLearn)
	}

	if _, err := encoder.ParsePooling(c.Encoder.Pooling); err != nil {
		add("encoder.pooling", "%v", err)
	}
	positive(add, "encoder.max_seq_len", c.Encoder.MaxSeqLen)
	positive(add, "encoder.batch_size", c.Encoder.BatchSize)
	nonNegative(add, "encoder.threads", c.Encoder.Threads)
	nonNegative(add, "encoder.cache_size", c.Encoder.CacheSize)

	if err := c.streaming("").Validate(); err != nil {
		errs = append(errs, err)
	}

	if c.EffectiveMode() == ModeLearn {
		positive(add, "learn.sessions", c.Learn.Sessions)
		positiveDuration(add, "learn.duration", c.Learn.Duration)
		if c.Learn.Screen && !(c.Learn.ReviewBudget > 0 && c.Learn.ReviewBudget <= 1) {
			add("learn.review_budget", "%v is not in (0, 1]", c.Learn.ReviewBudget)
		}
	}
	if c.ModelReloadInterval < 0 {
		add("model_reload_interval", "must not be negative, got %s", c.ModelReloadInterval)
	}
	if c.ModelReloadInterval > 0 {
		if c.EffectiveMode() != ModeDetect {
			add("model_reload_interval", "follows the bundle at model_path, so it needs mode %q with model_path set", ModeDetect)
		}
		if c.AEM.Enabled {
			add("model_reload_interval", "a replica that follows the bundle does not learn: turn aem.enabled off here and on in the one replica that writes model_path")
		}
		if c.Feedback.Enabled() {
			add("model_reload_interval", "operator feedback goes to the replica that learns and writes the bundle: remove feedback.endpoint here")
		}
	}
	if c.AEM.Enabled {
		positiveDuration(add, "aem.interval", c.AEM.Interval)
		positive(add, "aem.batch_size", c.AEM.BatchSize)
	}

	errs = append(errs, c.LLM.validate()...)
	errs = append(errs, c.Feedback.validate()...)
	return errors.Join(errs...)
}

// streaming is the stream processor's part of the configuration.
func (c *Config) streaming(modelVersion string) streaming.Config {
	s := c.Session
	return streaming.Config{
		KeySource:         s.Key.Source,
		KeyName:           s.Key.Name,
		KeyRegex:          s.Key.Regex,
		MissingKey:        s.MissingKey,
		MaxRecords:        s.MaxRecords,
		InactivityTimeout: s.InactivityTimeout,
		MaxOpenSessions:   s.MaxOpenSessions,
		MaxBufferedBytes:  int64(s.MaxBufferedBytes),
		Workers:           c.Workers,
		QueueSize:         c.QueueSize,
		MaxPending:        c.Pending.MaxSessions,
		LateAfter:         c.Pending.LateAfter,
		MaxLineBytes:      s.MaxLineBytes,
		AttributePrefix:   c.AttributePrefix,
		Attributes:        c.Attributes,
		EmitSummary:       c.EmitSummary,
		WriteTemplate:     c.WriteTemplate,
		ModelVersion:      modelVersion,
	}
}

func (l LLMConfig) validate() []error {
	if !l.Enabled() {
		return nil
	}
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !strings.HasPrefix(l.Endpoint, "http://") && !strings.HasPrefix(l.Endpoint, "https://") {
		add("llm.endpoint", "%q must be an http:// or https:// URL", l.Endpoint)
	}
	if err := l.ClientConfig.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("llm: %w", err))
	}
	if l.Model == "" {
		add("llm.model", "required when llm.endpoint is set")
	}
	if l.Temperature < 0 || l.Temperature > 2 {
		add("llm.temperature", "%v is outside [0, 2]", l.Temperature)
	}
	if l.TopP <= 0 || l.TopP > 1 {
		add("llm.top_p", "%v is outside (0, 1]", l.TopP)
	}
	if l.Timeout < 0 {
		add("llm.timeout", "must not be negative, got %s", l.Timeout)
	}
	nonNegative(add, "llm.max_retries", l.MaxRetries)
	positive(add, "llm.max_concurrent", l.MaxConcurrent)
	nonNegative(add, "llm.tokens_per_minute", l.TokensPerMinute)
	nonNegative(add, "llm.max_tokens_per_hour", l.MaxTokensPerHour)
	positive(add, "llm.top_k", l.TopK)
	for i, p := range l.Redact {
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("llm.redact[%d]: %w", i, err))
		}
	}
	return errs
}

func positive(add func(field, format string, args ...any), field string, v int) {
	if v <= 0 {
		add(field, "must be positive, got %d", v)
	}
}

func nonNegative(add func(field, format string, args ...any), field string, v int) {
	if v < 0 {
		add(field, "must not be negative, got %d", v)
	}
}

func positiveDuration(add func(field, format string, args ...any), field string, d time.Duration) {
	if d <= 0 {
		add(field, "must be a positive duration, got %s", d)
	}
}
