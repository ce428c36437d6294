package processor

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestAnnotationsOrderAndOriginalFields(t *testing.T) {
	det := &fakeDetector{}
	sink := &consumertest.LogsSink{}
	cfg := attrCfg()
	cfg.ModelVersion = "cfg-version"
	p := newStarted(t, cfg, det, sink, nil)
	// Session s1 spans two resources and two scopes, and two batches.
	consume(t, p, makeLogs(
		in{res: "r1", scope: "A", key: "s1", body: "s1 first"},
		in{res: "r1", scope: "A", key: "s2", body: "s2 normal"},
		in{res: "r1", scope: "B", key: "s1", body: "s1 ERROR second"},
		in{res: "r2", scope: "A", key: "s1", body: "s1 EVOLVED third"},
	))
	ld := makeLogs(in{res: "r1", scope: "A", key: "s1", body: "s1 fourth"})
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	lr.SetTraceID(pcommon.TraceID{9})
	lr.SetSpanID(pcommon.SpanID{8})
	lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	lr.SetEventName("ev")
	lr.SetObservedTimestamp(42)
	lr.Attributes().PutEmptyMap("nested").PutStr("x", "y")
	want := plog.NewLogRecord()
	lr.CopyTo(want)
	consume(t, p, ld)
	shutdown(t, p)

	outs := flatten(sink.AllLogs())
	if len(outs) != 5 {
		t.Fatalf("got %d records", len(outs))
	}
	var s1 []string
	byScope := map[string][]string{}
	for _, o := range outs {
		if o.attrs["anomaly.session.id"] == "s1" {
			s1 = append(s1, o.body)
		}
		byScope[o.res+"/"+o.scope] = append(byScope[o.res+"/"+o.scope], o.body)
		if o.schema != "https://schema/"+o.res {
			t.Errorf("schema url lost: %+v", o)
		}
	}
	// Within a resource/scope the records of s1 keep arrival order.
	if got := byScope["r1/A"]; !slices.Equal(filter(got, "s1"), []string{"s1 first", "s1 fourth"}) {
		t.Errorf("r1/A = %v", got)
	}
	if len(s1) != 4 {
		t.Fatalf("s1 records = %v", s1)
	}

	for _, o := range outs {
		a := o.attrs
		switch a["anomaly.session.id"] {
		case "s1":
			wantAttrs := map[string]any{
				"anomaly.score": 0.9, "anomaly.is_anomaly": true, "anomaly.evolved": true,
				"anomaly.route": "llm", "anomaly.reconstruction_error": 4.0,
				"anomaly.reason": "new template judged by the LLM", "anomaly.model.version": "fake-1",
			}
			for k, v := range wantAttrs {
				if a[k] != v {
					t.Errorf("%s: %s = %v, want %v", o.body, k, a[k], v)
				}
			}
		case "s2":
			if a["anomaly.is_anomaly"] != false || a["anomaly.route"] != "small_model" || a["anomaly.score"] != 0.1 {
				t.Errorf("s2 attrs = %v", a)
			}
			if _, ok := a["anomaly.reason"]; ok {
				t.Errorf("empty reason must not be written: %v", a)
			}
		default:
			t.Errorf("unexpected session: %v", a)
		}
		if o.body == "s1 fourth" {
			r := o.rec
			if r.TraceID() != want.TraceID() || r.SpanID() != want.SpanID() || r.Flags() != want.Flags() ||
				r.EventName() != "ev" || r.ObservedTimestamp() != 42 || r.Timestamp() != want.Timestamp() ||
				r.SeverityText() != "INFO" || r.SeverityNumber() != plog.SeverityNumberInfo {
				t.Errorf("original fields changed")
			}
			nested, _ := r.Attributes().Get("nested")
			if nested.Map().AsRaw()["x"] != "y" || a["seq"] != int64(0) || a["block"] != "s1" {
				t.Errorf("original attributes changed: %v", a)
			}
		}
	}
}

func TestBodiesNonStringInvalidUTF8Huge(t *testing.T) {
	det := &fakeDetector{}
	sink := &consumertest.LogsSink{}
	cfg := cfgOf(Config{KeySource: KeyFromBodyRegex, KeyRegex: `blk_\d+`, MaxLineBytes: 64})
	p := newStarted(t, cfg, det, sink, nil)

	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetEmptyMap().PutStr("msg", "map body for blk_1")
	lrs.AppendEmpty().Body().SetInt(7)                                          // no key: fallback session
	lrs.AppendEmpty().Body().SetStr("bad \xff\xfe utf8 blk_1 \xc3")             // invalid UTF-8
	huge := "blk_1 " + strings.Repeat("é", 1<<20)                               // 2 MiB of two-byte runes
	lrs.AppendEmpty().Body().SetStr(huge)                                       // huge body
	lrs.AppendEmpty().Body().SetEmptyBytes().FromRaw([]byte("blk_1 as bytes?")) // base64 form has no key
	lrs.AppendEmpty().Body().SetEmptySlice().AppendEmpty().SetStr("blk_1 in a slice")
	orig := plog.NewLogs()
	ld.CopyTo(orig)
	consume(t, p, ld)
	shutdown(t, p)

	for _, s := range det.seen() {
		for _, l := range s.Lines {
			if len(l) > 64 || !utf8.ValidString(l) {
				t.Errorf("detector line %q: %d bytes, valid=%v", l, len(l), utf8.ValidString(l))
			}
		}
	}
	var blk1 []string
	for _, s := range det.seen() {
		if s.ID == "blk_1" {
			blk1 = s.Lines
		}
	}
	if len(blk1) != 4 || !strings.HasPrefix(blk1[0], `{"msg":"map body for blk_1"}`[:20]) || !strings.HasPrefix(blk1[2], "blk_1 éé") {
		t.Fatalf("blk_1 lines = %q", blk1)
	}
	// Every record comes out with its body exactly as it went in.
	outs := flatten(sink.AllLogs())
	if len(outs) != 6 {
		t.Fatalf("records out = %d", len(outs))
	}
	origBodies := map[string]bool{}
	for _, lr := range orig.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
		origBodies[lr.Body().AsString()] = true
	}
	for _, o := range outs {
		if !origBodies[o.body] {
			t.Errorf("body changed: %.40q", o.body)
		}
		if o.body == huge && o.rec.Body().Str() != huge {
			t.Errorf("huge body altered")
		}
	}
}

func TestSummaryRecord(t *testing.T) {
	det := &fakeDetector{}
	sink := &consumertest.LogsSink{}
	cfg := attrCfg()
	cfg.EmitSummary = true
	cfg.AttributePrefix = "coorlog."
	p := newStarted(t, cfg, det, sink, nil)
	consume(t, p, makeLogs(
		in{res: "r", scope: "s", key: "bad", body: "start"},
		in{res: "r", scope: "s", key: "good", body: "fine"},
		in{res: "r", scope: "s", key: "bad", body: "ERROR disk"},
	))
	shutdown(t, p)
	outs := flatten(sink.AllLogs())
	if len(outs) != 4 {
		t.Fatalf("want 3 records + 1 summary, got %d", len(outs))
	}
	var sum []out
	for _, o := range outs {
		if o.attrs["coorlog.summary"] == true {
			sum = append(sum, o)
		}
	}
	if len(sum) != 1 {
		t.Fatalf("summaries = %d", len(sum))
	}
	s := sum[0]
	if s.res != "r" || s.scope != "s" || s.rec.SeverityNumber() != plog.SeverityNumberWarn || s.rec.SeverityText() != "WARN" {
		t.Errorf("summary placement/severity: %+v", s)
	}
	if !strings.Contains(s.body, "anomalous session bad: 2 records") {
		t.Errorf("summary body %q", s.body)
	}
	a := s.attrs
	if a["coorlog.session.id"] != "bad" || a["coorlog.is_anomaly"] != true || a["coorlog.session.record_count"] != int64(2) ||
		a["coorlog.session.first_timestamp"] != "2023-11-14T22:13:20Z" || a["coorlog.session.last_timestamp"] != "2023-11-14T22:13:20.000002Z" {
		t.Errorf("summary attrs = %v", a)
	}
}

func TestDownstreamErrorIsCountedNotFatal(t *testing.T) {
	obs := newCountingObserver()
	p := newStarted(t, attrCfg(), &fakeDetector{}, consumertest.NewErr(errBoom), obs)
	consume(t, p, makeLogs(in{key: "a", body: "x"}, in{key: "b", body: "y"}))
	shutdown(t, p)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.exportErr != 2 || p.exportErrors.Load() == 0 {
		t.Fatalf("export failures: observer %d, counter %d", obs.exportErr, p.exportErrors.Load())
	}
}
