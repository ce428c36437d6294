package coorlogprocessor

import (
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"go.yaml.in/yaml/v3"
)

// FuzzConfigUnmarshal feeds arbitrary YAML through the collector's config
// path (confmap -> Config -> Validate): it may be refused, never panic.
func FuzzConfigUnmarshal(f *testing.F) {
	for _, seed := range []string{
		"",
		"mode: detect\nmodel_path: /tmp/m\n",
		"session:\n  key: {source: body_regex, regex: 'blk_-?\\d+'}\n  max_records: 10\n",
		"session:\n  key: {source: body_regex, regex: '('}\n",
		"llm:\n  endpoint: http://127.0.0.1:1/v1\n  model: m\n  api_key: k\n  timeout: 1s\n  redact: ['[']\n",
		"workers: -1\nqueue_size: 0\nattribute_prefix: ''\n",
		"learn: {sessions: 0, duration: -1s}\naem: {enabled: true, interval: 0s, batch_size: -3}\n",
		"encoder: {pooling: max, max_seq_len: 100000, threads: -2, cache_size: -1}\n",
		"session: [1, 2]\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var raw map[string]any
		if err := yaml.Unmarshal([]byte(doc), &raw); err != nil {
			return
		}
		cfg := createDefaultConfig().(*Config)
		if err := confmap.NewFromStringMap(raw).Unmarshal(cfg); err != nil {
			return
		}
		_ = cfg.Validate()
	})
}
