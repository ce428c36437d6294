package processor

import (
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
)

// The whole verdict, as AttributesFull writes it on every record.
var fullVerdict = []string{"anomaly.score", "anomaly.is_anomaly", "anomaly.evolved", "anomaly.route",
	"anomaly.session.id", "anomaly.reconstruction_error", "anomaly.model.version"}

func hasAll(attrs map[string]any, names []string) bool {
	for _, n := range names {
		if _, ok := attrs[n]; !ok {
			return false
		}
	}
	return true
}

// With AttributesCompact (the default) a session judged normal carries the
// whole verdict on its first record and is_anomaly and session.id on the
// others; an anomalous, fallen-back or cut-off session carries it on every
// record.
func TestCompactAttributes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		det     *fakeDetector
		body    string
		closeBy string // "max_records", or "shutdown" (the session is cut off: partial)
		compact bool
	}{
		{"judged normal", &fakeDetector{}, "ok", "max_records", true},
		{"judged normal by the LLM", &fakeDetector{}, "EVOLVED ok", "max_records", true},
		{"anomalous", &fakeDetector{}, "ERROR", "max_records", false},
		{"fallback", &fakeDetector{err: errBoom}, "ok", "max_records", false},
		{"cut off by shutdown", &fakeDetector{}, "ok", "shutdown", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &consumertest.LogsSink{}
			cfg := cfgOf(Config{KeySource: KeyFromAttribute, KeyName: "block", Workers: 1})
			if cfg.Attributes != AttributesCompact {
				t.Fatalf("default attributes %q, want %q", cfg.Attributes, AttributesCompact)
			}
			if tc.closeBy == "max_records" {
				cfg.MaxRecords = 3
			}
			p := newStarted(t, cfg, tc.det, sink, nil)
			consume(t, p, makeLogs(in{key: "a", body: tc.body + " 1"}, in{key: "a", body: tc.body + " 2"}, in{key: "a", body: tc.body + " 3"}))
			shutdown(t, p)
			outs := flatten(sink.AllLogs())
			if len(outs) != 3 {
				t.Fatalf("records out = %d", len(outs))
			}
			if !hasAll(outs[0].attrs, fullVerdict) {
				t.Fatalf("first record lacks part of the verdict: %v", outs[0].attrs)
			}
			for i, o := range outs[1:] {
				if o.attrs["anomaly.session.id"] != "a" || o.attrs["anomaly.is_anomaly"] != outs[0].attrs["anomaly.is_anomaly"] {
					t.Fatalf("record %d: %v", i+1, o.attrs)
				}
				if !tc.compact {
					if !hasAll(o.attrs, fullVerdict) {
						t.Fatalf("record %d lacks part of the verdict: %v", i+1, o.attrs)
					}
					continue
				}
				// block (the key), seq (the input's) and the two compact attributes, nothing else.
				if len(o.attrs) != 4 {
					t.Fatalf("record %d of a session judged normal: %v", i+1, o.attrs)
				}
			}
		})
	}
}

func TestAttributesFullWritesTheVerdictOnEveryRecord(t *testing.T) {
	sink := &consumertest.LogsSink{}
	cfg := cfgOf(Config{KeySource: KeyFromAttribute, KeyName: "block", Workers: 1, MaxRecords: 2, Attributes: AttributesFull})
	p := newStarted(t, cfg, &fakeDetector{}, sink, nil)
	consume(t, p, makeLogs(in{key: "a", body: "ok 1"}, in{key: "a", body: "ok 2"}))
	shutdown(t, p)
	for _, o := range flatten(sink.AllLogs()) {
		if !hasAll(o.attrs, fullVerdict) || o.attrs["anomaly.route"] != "small_model" {
			t.Fatalf("record %q: %v", o.body, o.attrs)
		}
	}
}
