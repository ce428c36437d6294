package processor

import (
	"context"
	"errors"
	"github.com/coorlog/coorlogprocessor/model/normalize"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// fakeDetector judges by content so that tests can predict every verdict:
// a session is anomalous when a line contains "ERROR", evolved when one
// contains "EVOLVED"; RecError is the number of lines.
type fakeDetector struct {
	mu       sync.Mutex
	sessions []core.Session

	block     chan struct{} // when set, Detect waits for it to close (or ctx, unless ignoreCtx)
	ignoreCtx bool
	err       error
	panicMsg  string
	calls     atomic.Int64
}

func verdictFor(s core.Session) core.Verdict {
	v := core.Verdict{Score: 0.1, Route: core.RouteSmallModel, RecError: float64(len(s.Lines)), ModelVersion: "fake-1"}
	if s.Templates != nil {
		v.Reason = "content key " + normalize.SessionKey(s.Lines, s.Templates, normalize.TemplateKey)[:12] + " from upstream templates"
	}
	for _, l := range s.Lines {
		if strings.Contains(l, "ERROR") {
			v.Anomaly, v.Score = true, 0.9
		}
		if strings.Contains(l, "EVOLVED") {
			v.Evolved, v.Route, v.Reason = true, core.RouteLLM, "new template judged by the LLM"
		}
	}
	return v
}

func (f *fakeDetector) Detect(ctx context.Context, s core.Session) (core.Verdict, error) {
	f.calls.Add(1)
	if f.block != nil {
		if f.ignoreCtx {
			<-f.block
		} else {
			select {
			case <-f.block:
			case <-ctx.Done():
				return core.Verdict{}, ctx.Err()
			}
		}
	}
	if f.panicMsg != "" {
		panic(f.panicMsg)
	}
	if f.err != nil {
		return core.Verdict{}, f.err
	}
	f.mu.Lock()
	f.sessions = append(f.sessions, s)
	f.mu.Unlock()
	return verdictFor(s), nil
}

func (f *fakeDetector) seen() []core.Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]core.Session(nil), f.sessions...)
}

// fastDetector adds the fast path: same verdict, route cache.
type fastDetector struct {
	*fakeDetector
	fastCalls atomic.Int64
}

func (f *fastDetector) DetectFast(_ context.Context, s core.Session) (core.Verdict, error) {
	f.fastCalls.Add(1)
	v := verdictFor(s)
	v.Route, v.Reason = core.RouteCache, "fast path"
	return v, nil
}

// countingObserver records every event.
type countingObserver struct {
	mu        sync.Mutex
	opened    int
	closed    map[string]int
	annotated int
	routes    map[string]int
	anomalies int
	errs      int
	exportErr int
}

func newCountingObserver() *countingObserver {
	return &countingObserver{closed: map[string]int{}, routes: map[string]int{}}
}

func (o *countingObserver) SessionOpened(context.Context) { o.mu.Lock(); o.opened++; o.mu.Unlock() }
func (o *countingObserver) SessionClosed(_ context.Context, r string) {
	o.mu.Lock()
	o.closed[r]++
	o.mu.Unlock()
}
func (o *countingObserver) RecordsAnnotated(_ context.Context, n int) {
	o.mu.Lock()
	o.annotated += n
	o.mu.Unlock()
}
func (o *countingObserver) Verdict(_ context.Context, route string, anomaly, _ bool) {
	o.mu.Lock()
	o.routes[route]++
	if anomaly {
		o.anomalies++
	}
	o.mu.Unlock()
}
func (o *countingObserver) DetectError(context.Context) { o.mu.Lock(); o.errs++; o.mu.Unlock() }
func (o *countingObserver) ExportFailed(_ context.Context, n int, _ error) {
	o.mu.Lock()
	o.exportErr += n
	o.mu.Unlock()
}

// in describes one input record.
type in struct {
	res, scope string // resource attribute service.name, scope name
	key        string // attribute "block" ("" = absent)
	body       string
}

// makeLogs builds a plog.Logs; consecutive records with the same resource
// (and scope) share a ResourceLogs (ScopeLogs). Each record carries its
// position in attribute "seq", a timestamp and a severity.
func makeLogs(recs ...in) plog.Logs {
	ld := plog.NewLogs()
	var rl plog.ResourceLogs
	var sl plog.ScopeLogs
	lastRes, lastScope := "\x00", "\x00"
	for i, r := range recs {
		if r.res != lastRes {
			rl = ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", r.res)
			rl.SetSchemaUrl("https://schema/" + r.res)
			lastRes, lastScope = r.res, "\x00"
		}
		if r.scope != lastScope {
			sl = rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(r.scope)
			sl.Scope().SetVersion("v1")
			lastScope = r.scope
		}
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(r.body)
		if r.key != "" {
			lr.Attributes().PutStr("block", r.key)
		}
		lr.Attributes().PutInt("seq", int64(i))
		lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)*1000))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
	}
	return ld
}

// out is one received record, flattened.
type out struct {
	res, scope, schema string
	body               string
	attrs              map[string]any
	rec                plog.LogRecord
}

func flatten(lds []plog.Logs) []out {
	var o []out
	for _, ld := range lds {
		for _, rl := range ld.ResourceLogs().All() {
			res := ""
			if v, ok := rl.Resource().Attributes().Get("service.name"); ok {
				res = v.AsString()
			}
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					o = append(o, out{
						res: res, scope: sl.Scope().Name(), schema: rl.SchemaUrl(),
						body: lr.Body().AsString(), attrs: lr.Attributes().AsRaw(), rec: lr,
					})
				}
			}
		}
	}
	return o
}

func newStarted(t testing.TB, cfg Config, det core.Detector, next consumer.Logs, obs Observer) *Processor {
	t.Helper()
	p, err := New(cfg, det, next, zap.NewNop(), obs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		// Bounded: after a failed test a session may still wait on a stage
		// the test never released; the deadline makes Shutdown give up on it
		// instead of hanging until go test's timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

// attrCfg writes the whole verdict on every record, so that a test can read
// it from any record (AttributesCompact has tests of its own).
func attrCfg() Config {
	return cfgOf(Config{KeySource: KeyFromAttribute, KeyName: "block", Workers: 2, Attributes: AttributesFull})
}

func shutdown(t testing.TB, p *Processor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := p.OpenSessions(); n != 0 {
		t.Fatalf("open sessions after shutdown = %d, want 0", n)
	}
	if b := p.BufferedBytes(); b != 0 {
		t.Fatalf("buffered bytes after shutdown = %d, want 0", b)
	}
}

func consume(t testing.TB, p *Processor, ld plog.Logs) {
	t.Helper()
	if err := p.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatalf("ConsumeLogs: %v", err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var errBoom = errors.New("boom")

var _ = consumertest.NewNop

// cfgOf fills the zero fields of c from DefaultConfig, so that a test names
// only what it is about.
func cfgOf(c Config) Config {
	d := DefaultConfig()
	if c.KeySource == "" {
		c.KeySource = d.KeySource
	}
	if c.MissingKey == "" {
		c.MissingKey = d.MissingKey
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = d.MaxRecords
	}
	if c.InactivityTimeout == 0 {
		c.InactivityTimeout = d.InactivityTimeout
	}
	if c.MaxOpenSessions == 0 {
		c.MaxOpenSessions = d.MaxOpenSessions
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = d.MaxBufferedBytes
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	if c.MaxPending == 0 {
		c.MaxPending = d.MaxPending
	}
	if c.LateAfter == 0 {
		c.LateAfter = d.LateAfter
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = d.MaxLineBytes
	}
	if c.AttributePrefix == "" {
		c.AttributePrefix = d.AttributePrefix
	}
	if c.Attributes == "" {
		c.Attributes = d.Attributes
	}
	return c
}
