package coorlogprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/coorlog/coorlogprocessor/internal/metadata"

	"github.com/coorlog/coorlogprocessor/model/encoder"
	streaming "github.com/coorlog/coorlogprocessor/processor"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	withDefaults := func(edit func(*Config)) *Config {
		c := createDefaultConfig().(*Config)
		edit(c)
		return c
	}

	tests := []struct {
		id       component.ID
		expected *Config
		errMsg   string // substring of the Validate error; empty = valid
	}{
		{
			id:       component.NewID(metadata.Type),
			expected: createDefaultConfig().(*Config),
		},
		{
			id: component.NewIDWithName(metadata.Type, "hdfs"),
			expected: withDefaults(func(c *Config) {
				c.Mode = ModeDetect
				c.ModelPath = "/var/lib/coorlog/hdfs"
				c.Session.Key = KeyConfig{Source: streaming.KeyFromBodyRegex, Regex: `blk_-?\d+`}
				c.Session.MissingKey = streaming.MissingKeyPassThrough
				c.Session.MaxRecords = 200
				c.Session.InactivityTimeout = 2 * time.Second
				c.Workers = 4
				c.AttributePrefix = "coorlog."
				c.Attributes = streaming.AttributesFull
				c.EmitSummary = true
				c.WriteTemplate = true
			}),
		},
		{
			id: component.NewIDWithName(metadata.Type, "llm"),
			expected: withDefaults(func(c *Config) {
				c.ModelPath = "/var/lib/coorlog/hdfs"
				c.Encoder = EncoderConfig{Path: "/opt/models/bert-base-uncased", Pooling: string(encoder.PoolCLS),
					MaxSeqLen: 128, BatchSize: 16, Threads: 4, CacheSize: 200000}
				c.Session.Key = KeyConfig{Source: streaming.KeyFromAttribute, Name: "request.id"}
				c.AEM = AEMConfig{Enabled: true, Interval: 30 * time.Second, BatchSize: 64}
				c.LLM.Endpoint = "http://localhost:11434/v1"
				c.LLM.Timeout = 20 * time.Second
				// confmaptest does not resolve ${env:...}; the collector's resolver does.
				c.LLM.APIKey = "${env:OPENAI_API_KEY}"
				c.LLM.Model = "qwen2.5:7b"
				c.LLM.Temperature = 0
				c.LLM.TopP = 0.9
				c.LLM.MaxRetries = 2
				c.LLM.MaxConcurrent = 2
				c.LLM.TokensPerMinute = 20000
				c.LLM.MaxTokensPerHour = 500000
				c.LLM.TopK = 5
				c.LLM.Redact = []string{`(?i)password=\S+`}
			}),
		},
		{
			id: component.NewIDWithName(metadata.Type, "learn"),
			expected: withDefaults(func(c *Config) {
				c.Mode = ModeLearn
				c.Session.Key = KeyConfig{Source: streaming.KeyFromResourceAttribute, Name: "service.instance.id"}
				c.Learn = LearnConfig{Sessions: 200, Duration: 5 * time.Minute, Screen: true, ReviewBudget: 0.10}
				c.AEM.Enabled = false
			}),
		},
		{id: component.NewIDWithName(metadata.Type, "invalid_mode"), errMsg: `mode: "guess" is not one of`},
		{id: component.NewIDWithName(metadata.Type, "invalid_detect_without_model"), errMsg: "model_path: required in mode \"detect\""},
		{id: component.NewIDWithName(metadata.Type, "invalid_pooling"), errMsg: `encoder.pooling: pooling "max": want "mean" or "cls"`},
		{id: component.NewIDWithName(metadata.Type, "invalid_key_source"), errMsg: `session.key.source: "header"`},
		{id: component.NewIDWithName(metadata.Type, "invalid_attribute_without_name"), errMsg: "session.key.name: required"},
		{id: component.NewIDWithName(metadata.Type, "invalid_regex"), errMsg: "session.key.regex: error parsing regexp"},
		{id: component.NewIDWithName(metadata.Type, "invalid_regex_matches_empty"), errMsg: "matches the empty string"},
		{id: component.NewIDWithName(metadata.Type, "invalid_missing_key"), errMsg: `session.missing_key: "drop"`},
		{id: component.NewIDWithName(metadata.Type, "invalid_max_records"), errMsg: "session.max_records: must be positive, got 0"},
		{id: component.NewIDWithName(metadata.Type, "invalid_timeout"), errMsg: "session.inactivity_timeout: must be a positive duration, got -1s"},
		{id: component.NewIDWithName(metadata.Type, "invalid_workers"), errMsg: "workers: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "invalid_attributes"), errMsg: `attributes: "some" is not one of "compact", "full", "minimal"`},
		{id: component.NewIDWithName(metadata.Type, "invalid_learn_sessions"), errMsg: "learn.sessions: must be positive, got -5"},
		{id: component.NewIDWithName(metadata.Type, "invalid_learn_review_budget"), errMsg: "learn.review_budget: 1.5 is not in (0, 1]"},
		{id: component.NewIDWithName(metadata.Type, "invalid_llm_endpoint"), errMsg: "llm.endpoint: \"localhost:11434\" must be an http:// or https:// URL"},
		{id: component.NewIDWithName(metadata.Type, "invalid_llm_without_model"), errMsg: "llm.model: required"},
		{id: component.NewIDWithName(metadata.Type, "invalid_llm_temperature"), errMsg: "llm.temperature: 3 is outside [0, 2]"},
		{id: component.NewIDWithName(metadata.Type, "invalid_llm_redact"), errMsg: "llm.redact[0]: error parsing regexp"},
		{id: component.NewIDWithName(metadata.Type, "invalid_reload_with_aem"), errMsg: "model_reload_interval: a replica that follows the bundle does not learn"},
		{id: component.NewIDWithName(metadata.Type, "invalid_reload_in_learn_mode"), errMsg: `model_reload_interval: follows the bundle at model_path, so it needs mode "detect"`},
		{id: component.NewIDWithName(metadata.Type, "invalid_reload_negative"), errMsg: "model_reload_interval: must not be negative, got -1s"},
	}

	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))

			err = confmap.Validate(cfg)
			if tt.errMsg != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errMsg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestEffectiveMode(t *testing.T) {
	c := createDefaultConfig().(*Config)
	assert.Equal(t, ModeLearn, c.EffectiveMode(), "no model_path: learn")
	c.ModelPath = "/m"
	assert.Equal(t, ModeDetect, c.EffectiveMode(), "model_path set: detect")
	c.Mode = ModeLearn
	assert.Equal(t, ModeLearn, c.EffectiveMode(), "explicit mode wins")
}

func TestValidateReportsEveryField(t *testing.T) {
	c := createDefaultConfig().(*Config)
	c.Workers = 0
	c.QueueSize = -1
	c.Session.MaxLineBytes = 0
	err := c.Validate()
	require.Error(t, err)
	for _, field := range []string{"workers:", "queue_size:", "session.max_line_bytes:"} {
		assert.Contains(t, err.Error(), field)
	}
}

func TestAPIKeyIsOpaque(t *testing.T) {
	c := createDefaultConfig().(*Config)
	c.LLM.APIKey = "sk-secret-value"
	assert.NotContains(t, c.LLM.APIKey.String(), "sk-secret-value")
}

// The collector configuration the distribution is smoke-tested with must stay
// valid for this component.
func TestCollectorSmokeConfigIsValid(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "otelcol.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("processors::coorlog")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, ModeLearn, cfg.EffectiveMode())
	assert.False(t, cfg.LLM.Enabled())
}
