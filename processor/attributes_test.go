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
// whole verdict on its first record and is_anomaly alone on the others; with AttributesMinimal the others go on unchanged. An anomalous,
// fallen-back or cut-off session carries the whole verdict on every record
// in both.
func TestCompactAndMinimalAttributes(t *testing.T) {
	for _, mode := range []string{"", AttributesMinimal} { // "": the default
		for _, tc := range []struct {
			name    string
			det     *fakeDetector
			body    string
			closeBy string // "max_records", or "shutdown" (the session is cut off: partial)
			lean    bool   // the records after the first carry less than the verdict
		}{
			{"judged normal", &fakeDetector{}, "ok", "max_records", true},
			{"judged normal by the LLM", &fakeDetector{}, "EVOLVED ok", "max_records", true},
			{"anomalous", &fakeDetector{}, "ERROR", "max_records", false},
			{"fallback", &fakeDetector{err: errBoom}, "ok", "max_records", false},
			{"cut off by shutdown", &fakeDetector{}, "ok", "shutdown", false},
		} {
			t.Run(mode+" "+tc.name, func(t *testing.T) {
				sink := &consumertest.LogsSink{}
				cfg := cfgOf(Config{KeySource: KeyFromAttribute, KeyName: "block", Workers: 1, Attributes: mode})
				if mode == "" && cfg.Attributes != AttributesCompact {
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
					switch {
					case !tc.lean:
						if !hasAll(o.attrs, fullVerdict) || o.attrs["anomaly.session.id"] != "a" {
							t.Fatalf("record %d lacks part of the verdict: %v", i+1, o.attrs)
						}
					case cfg.Attributes == AttributesMinimal:
						// block (the key) and seq (the input's), as they came in.
						if len(o.attrs) != 2 {
							t.Fatalf("record %d of a session judged normal: %v", i+1, o.attrs)
						}
					default:
						// block, seq and is_anomaly, nothing else.
						if len(o.attrs) != 3 || o.attrs["anomaly.is_anomaly"] != false {
							t.Fatalf("record %d of a session judged normal: %v", i+1, o.attrs)
						}
					}
				}
			})
		}
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
