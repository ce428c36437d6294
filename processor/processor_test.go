package processor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/coorlog/coorlogprocessor/model/core"
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

func TestCloseOnMaxRecords(t *testing.T) {
	det := &fakeDetector{}
	sink := &consumertest.LogsSink{}
	obs := newCountingObserver()
	cfg := attrCfg()
	cfg.MaxRecords = 3
	p := newStarted(t, cfg, det, sink, obs)
	var recs []in
	for i := range 7 {
		recs = append(recs, in{res: "a", key: "k", body: fmt.Sprintf("line %d", i)})
	}
	consume(t, p, makeLogs(recs...))
	waitFor(t, "two full sessions", func() bool { return sink.LogRecordCount() == 6 })
	if p.OpenSessions() != 1 {
		t.Fatalf("open sessions = %d, want 1 (the 7th record)", p.OpenSessions())
	}
	shutdown(t, p)
	if sink.LogRecordCount() != 7 {
		t.Fatalf("records out = %d, want 7", sink.LogRecordCount())
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.closed[CloseMaxRecords] != 2 || obs.closed[CloseShutdown] != 1 || obs.opened != 3 || obs.annotated != 7 {
		t.Fatalf("observer: opened %d closed %v annotated %d", obs.opened, obs.closed, obs.annotated)
	}
	var sizes []int
	for _, s := range det.seen() {
		sizes = append(sizes, len(s.Lines))
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{1, 3, 3}) {
		t.Fatalf("session sizes = %v", sizes)
	}
}

func TestCloseOnInactivity(t *testing.T) {
	det := &fakeDetector{}
	sink := &consumertest.LogsSink{}
	obs := newCountingObserver()
	cfg := attrCfg()
	cfg.InactivityTimeout = 40 * time.Millisecond
	p := newStarted(t, cfg, det, sink, obs)
	consume(t, p, makeLogs(in{res: "a", key: "idle", body: "x"}, in{res: "a", key: "idle", body: "y"}))
	start := time.Now()
	waitFor(t, "inactive session to be flushed", func() bool { return sink.LogRecordCount() == 2 })
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("flushed after %v, before the inactivity timeout", el)
	}
	if p.OpenSessions() != 0 {
		t.Fatalf("open sessions = %d", p.OpenSessions())
	}
	obs.mu.Lock()
	if obs.closed[CloseInactivity] != 1 {
		t.Errorf("close reasons = %v", obs.closed)
	}
	obs.mu.Unlock()
	shutdown(t, p)
}

func TestMaxOpenSessionsEvictsLeastRecentlyActive(t *testing.T) {
	det := &fakeDetector{}
	sink := &consumertest.LogsSink{}
	cfg := attrCfg()
	cfg.MaxOpenSessions = 3
	cfg.Workers = 1
	p := newStarted(t, cfg, det, sink, nil)
	consume(t, p, makeLogs(in{key: "a", body: "a1"}, in{key: "b", body: "b1"}, in{key: "c", body: "c1"}))
	consume(t, p, makeLogs(in{key: "a", body: "a2"})) // a is now the most recent; b the oldest
	consume(t, p, makeLogs(in{key: "d", body: "d1"})) // over the cap: b goes first
	waitFor(t, "evicted session", func() bool { return sink.LogRecordCount() == 1 })
	if got := flatten(sink.AllLogs())[0]; got.body != "b1" {
		t.Fatalf("evicted %q first, want b1", got.body)
	}
	if p.OpenSessions() != 3 {
		t.Fatalf("open = %d, want 3", p.OpenSessions())
	}
	shutdown(t, p)
	if sink.LogRecordCount() != 5 {
		t.Fatalf("records out = %d, want 5", sink.LogRecordCount())
	}
	if p.peakOpen.Load() > 3 {
		t.Fatalf("peak open sessions %d over the cap", p.peakOpen.Load())
	}
}

func TestByteCapFlushesOldestAndLosesNothing(t *testing.T) {
	det := &fakeDetector{}
	sink := &consumertest.LogsSink{}
	obs := newCountingObserver()
	cfg := attrCfg()
	cfg.MaxBufferedBytes = 4 << 10
	p := newStarted(t, cfg, det, sink, obs)
	n := 0
	for batch := range 20 {
		var recs []in
		for i := range 10 {
			recs = append(recs, in{res: "r", key: fmt.Sprintf("k%d", (batch*3+i)%17), body: strings.Repeat("x", 100+i)})
		}
		n += len(recs)
		consume(t, p, makeLogs(recs...))
		if b := p.BufferedBytes(); b > cfg.MaxBufferedBytes {
			t.Fatalf("buffered %d bytes, over the cap %d", b, cfg.MaxBufferedBytes)
		}
	}
	// One record larger than the whole cap is still accepted and scored.
	consume(t, p, makeLogs(in{res: "r", key: "huge", body: strings.Repeat("y", 8<<10)}))
	n++
	shutdown(t, p)
	if got := sink.LogRecordCount(); got != n {
		t.Fatalf("records out = %d, want %d", got, n)
	}
	if peak := p.peakBuffered.Load(); peak > cfg.MaxBufferedBytes {
		t.Fatalf("peak buffered %d > cap %d", peak, cfg.MaxBufferedBytes)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.closed[CloseEvicted] == 0 {
		t.Fatalf("the cap never flushed a session: %v", obs.closed)
	}
}

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

func filter(xs []string, prefix string) []string {
	var o []string
	for _, x := range xs {
		if strings.HasPrefix(x, prefix) {
			o = append(o, x)
		}
	}
	return o
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

func TestDetectorErrorsAndPanicsBecomeFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		det  *fakeDetector
		want string
	}{
		{"error", &fakeDetector{err: errBoom}, "detector error: boom"},
		{"panic", &fakeDetector{panicMsg: "index out of range"}, "detector error: detector panic: index out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &consumertest.LogsSink{}
			obs := newCountingObserver()
			cfg := attrCfg()
			cfg.ModelVersion = "v0"
			p := newStarted(t, cfg, tc.det, sink, obs)
			consume(t, p, makeLogs(in{key: "a", body: "1"}, in{key: "a", body: "2"}, in{key: "b", body: "3"}))
			shutdown(t, p)
			outs := flatten(sink.AllLogs())
			if len(outs) != 3 {
				t.Fatalf("records out = %d", len(outs))
			}
			for _, o := range outs {
				if o.attrs["anomaly.route"] != "fallback" || o.attrs["anomaly.reason"] != tc.want ||
					o.attrs["anomaly.is_anomaly"] != false || o.attrs["anomaly.model.version"] != "v0" {
					t.Errorf("attrs = %v", o.attrs)
				}
			}
			obs.mu.Lock()
			defer obs.mu.Unlock()
			if obs.errs != 2 || obs.routes["fallback"] != 2 {
				t.Fatalf("observer errs=%d routes=%v", obs.errs, obs.routes)
			}
		})
	}
}

// With a stuck detector and a full queue, ConsumeLogs keeps returning at
// once: the fast path scores what the workers cannot take.
func TestSlowDetectorUsesFastPath(t *testing.T) {
	block := make(chan struct{})
	det := &fastDetector{fakeDetector: &fakeDetector{block: block}}
	sink := &consumertest.LogsSink{}
	cfg := attrCfg()
	cfg.Workers, cfg.QueueSize, cfg.MaxRecords = 1, 2, 1
	p := newStarted(t, cfg, det, sink, nil)

	const n = 50
	start := time.Now()
	for i := range n {
		consume(t, p, makeLogs(in{key: fmt.Sprint(i), body: "ERROR x"}))
		if i == 0 {
			waitFor(t, "the worker to be stuck in Detect", func() bool { return det.calls.Load() == 1 })
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("ConsumeLogs waited for the detector: %v for %d calls", el, n)
	}
	// 1 in the worker, 2 queued; everything else took the fast path and is already out.
	waitFor(t, "fast-path sessions", func() bool { return sink.LogRecordCount() == n-3 })
	if got := det.fastCalls.Load(); got != n-3 {
		t.Fatalf("fast path calls = %d, want %d", got, n-3)
	}
	close(block)
	shutdown(t, p)
	routes := map[any]int{}
	for _, o := range flatten(sink.AllLogs()) {
		routes[o.attrs["anomaly.route"]]++
		if o.attrs["anomaly.is_anomaly"] != true {
			t.Errorf("verdict lost on %v", o.attrs)
		}
	}
	if routes["cache"] != n-3 || routes["small_model"] != 3 {
		t.Fatalf("routes = %v", routes)
	}
}

func TestFullQueueWithoutFastPathMarksOverload(t *testing.T) {
	block := make(chan struct{})
	det := &fakeDetector{block: block}
	sink := &consumertest.LogsSink{}
	cfg := attrCfg()
	cfg.Workers, cfg.QueueSize, cfg.MaxRecords = 1, 1, 1
	p := newStarted(t, cfg, det, sink, nil)
	for i := range 10 {
		consume(t, p, makeLogs(in{key: fmt.Sprint(i), body: "x"}))
		if i == 0 {
			waitFor(t, "the worker to be stuck in Detect", func() bool { return det.calls.Load() == 1 })
		}
	}
	waitFor(t, "overload fallbacks", func() bool { return sink.LogRecordCount() == 8 })
	close(block)
	shutdown(t, p)
	over := 0
	for _, o := range flatten(sink.AllLogs()) {
		if o.attrs["anomaly.reason"] == reasonOverload && o.attrs["anomaly.route"] == "fallback" {
			over++
		}
	}
	if over != 8 || sink.LogRecordCount() != 10 {
		t.Fatalf("overload fallbacks = %d, records = %d", over, sink.LogRecordCount())
	}
}

func TestShutdownDeadlineWithStuckDetector(t *testing.T) {
	// maxRecords 10: the sessions close (and the workers get stuck in Detect)
	// before Shutdown; 1000: they are still open at Shutdown.
	for _, tc := range []struct {
		ignore     bool
		maxRecords int
	}{{false, 1000}, {true, 1000}, {false, 10}, {true, 10}} {
		t.Run(fmt.Sprintf("ignoresCtx=%v/maxRecords=%d", tc.ignore, tc.maxRecords), func(t *testing.T) {
			det := &fakeDetector{block: make(chan struct{}), ignoreCtx: tc.ignore}
			defer close(det.block)
			sink := &consumertest.LogsSink{}
			cfg := attrCfg()
			cfg.Workers, cfg.MaxRecords = 2, tc.maxRecords
			p := newStarted(t, cfg, det, sink, nil)
			var recs []in
			for i := range 100 {
				recs = append(recs, in{key: fmt.Sprint(i % 10), body: "line"})
			}
			consume(t, p, makeLogs(recs...))
			if tc.maxRecords == 10 {
				waitFor(t, "both workers stuck in Detect", func() bool { return det.calls.Load() == 2 })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			if err := p.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			// The detector never returns: Shutdown must not wait for it. The
			// bound is loose on purpose (a loaded -race run is slow); it only
			// has to tell "gave up on the detector" from "waited for it".
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("Shutdown took %v: it waited for a stuck detector", el)
			}
			if p.OpenSessions() != 0 {
				t.Fatalf("open sessions = %d", p.OpenSessions())
			}
			outs := flatten(sink.AllLogs())
			if len(outs) != 100 {
				t.Fatalf("records out = %d, want 100", len(outs))
			}
			for _, o := range outs {
				if o.attrs["anomaly.route"] != "fallback" || o.attrs["anomaly.reason"] != reasonShutdownDeadline {
					t.Fatalf("attrs = %v", o.attrs)
				}
			}
		})
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

func TestLifecycleEdges(t *testing.T) {
	sink := &consumertest.LogsSink{}
	p, err := New(attrCfg(), &fakeDetector{}, sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ConsumeLogs(context.Background(), makeLogs(in{key: "a"})); err == nil {
		t.Fatal("ConsumeLogs before Start must fail")
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err == nil {
		t.Fatal("second Start must fail")
	}
	shutdown(t, p)
	shutdown(t, p) // idempotent
	// Late records after Shutdown are forwarded unannotated rather than lost.
	consume(t, p, makeLogs(in{key: "late", body: "late"}))
	if outs := flatten(sink.AllLogs()); len(outs) != 1 || outs[0].attrs["anomaly.route"] != nil {
		t.Fatalf("late record: %+v", outs)
	}
	// Shutdown without Start is fine.
	q, _ := New(attrCfg(), &fakeDetector{}, sink, nil, nil)
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

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

// Many goroutines feed, the ticker expires, gauges are read: run with -race.
func TestConcurrentConsume(t *testing.T) {
	det := &fastDetector{fakeDetector: &fakeDetector{}}
	sink := &consumertest.LogsSink{}
	cfg := attrCfg()
	cfg.MaxRecords, cfg.InactivityTimeout, cfg.MaxOpenSessions, cfg.QueueSize = 5, 5*time.Millisecond, 40, 4
	p := newStarted(t, cfg, det, sink, nil)
	const feeders, batches, per = 4, 50, 20
	var wg sync.WaitGroup
	for f := range feeders {
		wg.Go(func() {
			for b := range batches {
				var recs []in
				for i := range per {
					recs = append(recs, in{res: fmt.Sprint(f % 2), key: fmt.Sprintf("k%d", (b*per+i)%60), body: "x"})
				}
				consume(t, p, makeLogs(recs...))
				_ = p.OpenSessions() + p.BufferedBytes()
			}
		})
	}
	wg.Wait()
	shutdown(t, p)
	if got := sink.LogRecordCount(); got != feeders*batches*per {
		t.Fatalf("records out = %d, want %d", got, feeders*batches*per)
	}
	if p.peakOpen.Load() > 40 {
		t.Fatalf("peak open %d over the cap", p.peakOpen.Load())
	}
}

var _ core.Detector = (*fakeDetector)(nil)
