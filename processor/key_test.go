package processor

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestGroupingByKeySource(t *testing.T) {
	traceA := pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	traceB := pcommon.TraceID{0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	bodies := []string{
		"Receiving block blk_-123 src: /10.0.0.1",
		"Receiving block blk_456 src: /10.0.0.2",
		"PacketResponder 1 for block blk_-123 terminating",
		"Deleting block blk_456 file /data/blk_456",
		"Verification succeeded for blk_-123",
	}
	tests := []struct {
		name string
		cfg  Config
		// decorate sets the key where the source reads it and returns the expected key.
		decorate func(i int, rl plog.ResourceLogs, lr plog.LogRecord) string
	}{
		{
			name: "attribute",
			cfg:  cfgOf(Config{KeySource: KeyFromAttribute, KeyName: "req"}),
			decorate: func(i int, _ plog.ResourceLogs, lr plog.LogRecord) string {
				k := fmt.Sprintf("req-%d", i%2)
				lr.Attributes().PutStr("req", k)
				return k
			},
		},
		{
			name: "int attribute",
			cfg:  cfgOf(Config{KeySource: KeyFromAttribute, KeyName: "req"}),
			decorate: func(i int, _ plog.ResourceLogs, lr plog.LogRecord) string {
				lr.Attributes().PutInt("req", int64(i%2)+40)
				return fmt.Sprint(i%2 + 40)
			},
		},
		{
			name: "resource attribute",
			cfg:  cfgOf(Config{KeySource: KeyFromResourceAttribute, KeyName: "host.name"}),
			decorate: func(i int, rl plog.ResourceLogs, _ plog.LogRecord) string {
				k := fmt.Sprintf("host-%d", i%2)
				rl.Resource().Attributes().PutStr("host.name", k)
				return k
			},
		},
		{
			name: "trace id",
			cfg:  cfgOf(Config{KeySource: KeyFromTraceID}),
			decorate: func(i int, _ plog.ResourceLogs, lr plog.LogRecord) string {
				if i%2 == 0 {
					lr.SetTraceID(traceA)
					return "0102030405060708090a0b0c0d0e0f10"
				}
				lr.SetTraceID(traceB)
				return "ff000000000000000000000000000001"
			},
		},
		{
			name: "body regex whole match",
			cfg:  cfgOf(Config{KeySource: KeyFromBodyRegex, KeyRegex: `blk_-?\d+`}),
			decorate: func(i int, _ plog.ResourceLogs, _ plog.LogRecord) string {
				return []string{"blk_-123", "blk_456"}[i%2]
			},
		},
		{
			name: "body regex capture group",
			cfg:  cfgOf(Config{KeySource: KeyFromBodyRegex, KeyRegex: `blk_(-?\d+)`}),
			decorate: func(i int, _ plog.ResourceLogs, _ plog.LogRecord) string {
				return []string{"-123", "456"}[i%2]
			},
		},
		{
			// A shape keyScan leaves to the regexp engine (an assertion).
			name: "body regex the engine matches",
			cfg:  cfgOf(Config{KeySource: KeyFromBodyRegex, KeyRegex: `\bblk_(-?\d+)`}),
			decorate: func(i int, _ plog.ResourceLogs, _ plog.LogRecord) string {
				return []string{"-123", "456"}[i%2]
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			det := &fakeDetector{}
			sink := &consumertest.LogsSink{}
			p := newStarted(t, tc.cfg, det, sink, nil)
			// One resource per record, so resource attributes can differ per record.
			ld := plog.NewLogs()
			want := map[string][]string{} // key -> bodies in order
			for i, b := range bodies {
				rl := ld.ResourceLogs().AppendEmpty()
				lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
				lr.Body().SetStr(b)
				k := tc.decorate(i, rl, lr)
				want[k] = append(want[k], b)
			}
			consume(t, p, ld)
			shutdown(t, p)

			got := map[string][]string{}
			for _, s := range det.seen() {
				got[s.ID] = s.Lines
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("detector sessions = %v, want %v", got, want)
			}
			outs := flatten(sink.AllLogs())
			if len(outs) != len(bodies) {
				t.Fatalf("got %d records out, want %d", len(outs), len(bodies))
			}
			for _, o := range outs {
				id := o.attrs["anomaly.session.id"].(string)
				if !slices.Contains(want[id], o.body) {
					t.Errorf("record %q annotated with session %q", o.body, id)
				}
			}
		})
	}
}

func TestMissingKeyResourceSession(t *testing.T) {
	det := &fakeDetector{}
	sink := &consumertest.LogsSink{}
	p := newStarted(t, attrCfg(), det, sink, nil)
	consume(t, p, makeLogs(
		in{res: "a", body: "no key 1"},
		in{res: "a", key: "k", body: "keyed"},
		in{res: "a", body: "no key 2"},
		in{res: "b", body: "no key from b"},
	))
	consume(t, p, makeLogs(in{res: "a", body: "no key 3 (next batch, same resource)"}))
	shutdown(t, p)

	ids := map[string][]string{}
	for _, o := range flatten(sink.AllLogs()) {
		id := o.attrs["anomaly.session.id"].(string)
		ids[id] = append(ids[id], o.res+":"+o.body)
	}
	if len(ids) != 3 {
		t.Fatalf("want 3 sessions (k, fallback a, fallback b), got %v", ids)
	}
	var fallbackA []string
	for id, bodies := range ids {
		if strings.HasPrefix(id, "resource-") && strings.HasPrefix(bodies[0], "a:") {
			fallbackA = bodies
		}
	}
	want := []string{"a:no key 1", "a:no key 2", "a:no key 3 (next batch, same resource)"}
	if !slices.Equal(fallbackA, want) {
		t.Fatalf("fallback session of resource a = %v, want %v", fallbackA, want)
	}
}

func TestMissingKeyPassThrough(t *testing.T) {
	det := &fakeDetector{}
	sink := &consumertest.LogsSink{}
	cfg := attrCfg()
	cfg.MissingKey = MissingKeyPassThrough
	p := newStarted(t, cfg, det, sink, nil)

	consume(t, p, makeLogs(
		in{res: "a", scope: "s", body: "unkeyed 1"},
		in{res: "a", scope: "s", key: "k", body: "keyed"},
		in{res: "a", scope: "s", body: "unkeyed 2"},
	))
	// Pass-through records are forwarded during ConsumeLogs, before any session closes.
	outs := flatten(sink.AllLogs())
	if len(outs) != 2 || outs[0].body != "unkeyed 1" || outs[1].body != "unkeyed 2" {
		t.Fatalf("pass-through output = %+v", outs)
	}
	for _, o := range outs {
		if o.res != "a" || o.scope != "s" || o.schema != "https://schema/a" {
			t.Errorf("pass-through lost its resource/scope: %+v", o)
		}
		for k := range o.attrs {
			if strings.HasPrefix(k, "anomaly.") {
				t.Errorf("pass-through record annotated: %v", o.attrs)
			}
		}
	}
	// A batch with no key at all goes through as one call, still unannotated.
	consume(t, p, makeLogs(in{res: "b", body: "x"}, in{res: "b", body: "y"}))
	shutdown(t, p)
	outs = flatten(sink.AllLogs())
	if len(outs) != 5 {
		t.Fatalf("got %d records, want 5", len(outs))
	}
	if outs[4].attrs["anomaly.session.id"] != "k" {
		t.Fatalf("keyed record should arrive last, annotated: %+v", outs[4])
	}
	if det.calls.Load() != 1 {
		t.Fatalf("detector calls = %d, want 1", det.calls.Load())
	}
}
