package processor

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.KeySource = "" }, `session.key.source: "" is not one of`},
		{func(c *Config) { c.KeySource = "nope" }, `session.key.source: "nope" is not one of`},
		{func(c *Config) { c.KeySource = KeyFromAttribute }, "session.key.name: required"},
		{func(c *Config) { c.KeySource = KeyFromResourceAttribute }, "session.key.name: required"},
		{func(c *Config) { c.KeySource = KeyFromBodyRegex }, "session.key.regex: required"},
		{func(c *Config) { c.KeySource, c.KeyRegex = KeyFromBodyRegex, "(" }, "session.key.regex: error parsing"},
		{func(c *Config) { c.KeySource, c.KeyRegex = KeyFromBodyRegex, "x*" }, "matches the empty string"},
		{func(c *Config) { c.MissingKey = "drop" }, "session.missing_key"},
		{func(c *Config) { c.MaxRecords = -1 }, "session.max_records: must be positive, got -1"},
		{func(c *Config) { c.MaxRecords = 0 }, "session.max_records: must be positive, got 0"},
		{func(c *Config) { c.InactivityTimeout = 0 }, "session.inactivity_timeout"},
		{func(c *Config) { c.MaxOpenSessions = 0 }, "session.max_open_sessions"},
		{func(c *Config) { c.MaxLineBytes = 0 }, "session.max_line_bytes"},
		{func(c *Config) { c.MaxBufferedBytes, c.Workers = -1, -2 }, "workers: must be positive, got -2"},
		{func(c *Config) { c.QueueSize = 0 }, "queue_size"},
		{func(c *Config) { c.AttributePrefix = " anomaly." }, "attribute_prefix"},
		{func(c *Config) { c.Attributes = "some" }, "attributes: \"some\" is not one of"},
	} {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		_, err := New(cfg, &fakeDetector{}, consumertest.NewNop(), nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", cfg, err, tc.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
	if _, err := New(DefaultConfig(), nil, consumertest.NewNop(), nil, nil); err == nil {
		t.Error("nil detector accepted")
	}
	if _, err := New(DefaultConfig(), &fakeDetector{}, nil, nil, nil); err == nil {
		t.Error("nil next accepted")
	}
}
