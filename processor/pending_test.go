package processor

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// deferringDetector defers every session with an EVOLVED line: the
// provisional verdict is pending, and finish waits for release (or ctx),
// then answers "anomalous, route llm".
type deferringDetector struct {
	*fakeDetector
	release  chan struct{}
	inFinish atomic.Int64
	peak     atomic.Int64
	finished atomic.Int64
}

func newDeferring() *deferringDetector {
	return &deferringDetector{fakeDetector: &fakeDetector{}, release: make(chan struct{})}
}

func (d *deferringDetector) DetectDeferred(ctx context.Context, s core.Session) (core.Verdict, func(context.Context) core.Verdict, error) {
	v, err := d.Detect(ctx, s)
	if err != nil || !v.Evolved {
		return v, nil, err
	}
	prov := core.Verdict{Score: 0.2, Evolved: true, Route: core.RoutePending, Reason: "awaiting", ModelVersion: "fake-1"}
	return prov, func(ctx context.Context) core.Verdict {
		n := d.inFinish.Add(1)
		for p := d.peak.Load(); n > p && !d.peak.CompareAndSwap(p, n); p = d.peak.Load() {
		}
		defer d.inFinish.Add(-1)
		defer d.finished.Add(1)
		select {
		case <-d.release:
			return core.Verdict{Score: 0.95, Anomaly: true, Evolved: true, Route: core.RouteLLM, Reason: "judged late", ModelVersion: "fake-1"}
		case <-ctx.Done():
			return core.Verdict{Score: 0.2, Evolved: true, Route: core.RouteFallback, Reason: "LLM stage timed out", ModelVersion: "fake-1"}
		}
	}, nil
}

func evolvedSessions(n int) []in {
	var recs []in
	for i := range n {
		k := fmt.Sprint("s", i)
		recs = append(recs, in{key: k, body: "EVOLVED line of " + k}, in{key: k, body: "second line of " + k})
	}
	return recs
}

// One worker, eight sessions waiting for the slow stage at once: none of
// them holds the worker. Answered within late_after, the records carry the
// final verdict and no late record follows.
func TestWaitingSessionsDoNotHoldWorkers(t *testing.T) {
	d := newDeferring()
	sink := new(consumertest.LogsSink)
	cfg := attrCfg()
	cfg.Workers, cfg.MaxRecords, cfg.LateAfter = 1, 2, time.Hour
	p := newStarted(t, cfg, d, sink, nil)
	consume(t, p, makeLogs(evolvedSessions(8)...))
	waitFor(t, "8 sessions in the slow stage with one worker", func() bool { return d.inFinish.Load() == 8 })
	if sink.LogRecordCount() != 0 {
		t.Fatalf("%d records went out before their verdict", sink.LogRecordCount())
	}
	close(d.release)
	waitFor(t, "all records", func() bool { return sink.LogRecordCount() == 16 })
	for _, o := range flatten(sink.AllLogs()) {
		if o.attrs["anomaly.route"] != "llm" || o.attrs["anomaly.is_anomaly"] != true || o.attrs["anomaly.late"] != nil {
			t.Fatalf("record %q: %v", o.body, o.attrs)
		}
	}
	if now, peak, late := p.Waiting(); now != 0 || peak != 8 || late != 0 {
		t.Fatalf("waiting now %d, peak %d, late %d", now, peak, late)
	}
	shutdown(t, p)
}

// Past late_after the records go out at once, pending and not anomalous;
// the final verdict follows in a record of its own.
func TestLateVerdictRecord(t *testing.T) {
	d := newDeferring()
	sink := new(consumertest.LogsSink)
	cfg := attrCfg()
	cfg.MaxRecords, cfg.LateAfter = 2, 20*time.Millisecond
	p := newStarted(t, cfg, d, sink, nil)
	consume(t, p, makeLogs(evolvedSessions(1)...))
	waitFor(t, "the pending records", func() bool { return sink.LogRecordCount() == 2 })
	for _, o := range flatten(sink.AllLogs()) {
		if o.attrs["anomaly.route"] != "pending" || o.attrs["anomaly.is_anomaly"] != false {
			t.Fatalf("provisional record %q: %v", o.body, o.attrs)
		}
	}
	close(d.release)
	waitFor(t, "the late record", func() bool { return sink.LogRecordCount() == 3 })
	late := flatten(sink.AllLogs())[2]
	a := late.attrs
	if a["anomaly.late"] != true || a["anomaly.route"] != "llm" || a["anomaly.is_anomaly"] != true ||
		a["anomaly.session.id"] != "s0" || a["anomaly.session.record_count"] != int64(2) || late.rec.SeverityText() != "WARN" {
		t.Fatalf("late record %q: %v", late.body, a)
	}
	if _, _, n := p.Waiting(); n != 1 {
		t.Fatalf("late verdicts %d", n)
	}
	shutdown(t, p) // the late record was not taken in: nothing is left unsettled
}

// A full waiting room sends a session down the overload path: the worker
// does not wait behind the slow stage's backlog.
func TestFullWaitingRoomTakesTheOverloadPath(t *testing.T) {
	d := &fastDeferring{deferringDetector: newDeferring()}
	sink := new(consumertest.LogsSink)
	cfg := attrCfg()
	cfg.Workers, cfg.MaxRecords, cfg.MaxPending, cfg.LateAfter = 1, 2, 1, time.Hour
	p := newStarted(t, cfg, d, sink, nil)
	consume(t, p, makeLogs(evolvedSessions(3)...))
	waitFor(t, "two sessions on the fast path", func() bool { return sink.LogRecordCount() == 4 })
	for _, o := range flatten(sink.AllLogs()) {
		if o.attrs["anomaly.route"] != "cache" || o.attrs["anomaly.reason"] != "fast path" {
			t.Fatalf("record %q: %v", o.body, o.attrs)
		}
	}
	if now, _, _ := p.Waiting(); now != 1 || d.fastCalls.Load() != 2 {
		t.Fatalf("%d waiting, %d fast-path calls; want 1 and 2", now, d.fastCalls.Load())
	}
	close(d.release)
	waitFor(t, "all records", func() bool { return sink.LogRecordCount() == 6 })
	shutdown(t, p)
}

// fastDeferring is a deferringDetector with a fast path.
type fastDeferring struct {
	*deferringDetector
	fastCalls atomic.Int64
}

func (f *fastDeferring) DetectFast(_ context.Context, s core.Session) (core.Verdict, error) {
	f.fastCalls.Add(1)
	v := verdictFor(s)
	v.Route, v.Reason = core.RouteCache, "fast path"
	return v, nil
}

// Waiting sessions count against max_buffered_bytes: when new records need
// the room, the oldest waiting session goes out at once, pending.
func TestWaitingSessionsGiveWayToTheByteCap(t *testing.T) {
	d := newDeferring()
	sink := new(consumertest.LogsSink)
	cfg := attrCfg()
	cfg.MaxRecords, cfg.LateAfter = 2, time.Hour
	one := recordBytes(makeLogs(in{key: "s0", body: "EVOLVED line of s0"}).ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0))
	cfg.MaxBufferedBytes = 3 * one
	p := newStarted(t, cfg, d, sink, nil)
	consume(t, p, makeLogs(evolvedSessions(1)...))
	waitFor(t, "s0 waiting", func() bool { now, _, _ := p.Waiting(); return now == 1 })
	consume(t, p, makeLogs(in{key: "x", body: "plain line"}, in{key: "x", body: "another plain line"}))
	waitFor(t, "s0 forwarded, pending", func() bool {
		for _, o := range flatten(sink.AllLogs()) {
			if o.attrs["anomaly.session.id"] == "s0" && o.attrs["anomaly.route"] == "pending" {
				return true
			}
		}
		return false
	})
	if peak := p.peakBuffered.Load(); peak > cfg.MaxBufferedBytes {
		t.Fatalf("buffered peak %d > cap %d", peak, cfg.MaxBufferedBytes)
	}
	close(d.release)
	shutdown(t, p)
}

// At a Shutdown deadline the slow stage is cancelled and every waiting
// session goes out: pending with its (fallback) verdict following, or, when
// the cancelled stage answered first, with that verdict. Nothing is lost.
func TestShutdownWithWaitingSessions(t *testing.T) {
	d := newDeferring()
	sink := new(consumertest.LogsSink)
	cfg := attrCfg()
	cfg.MaxRecords, cfg.LateAfter = 2, time.Hour
	p := newStarted(t, cfg, d, sink, nil)
	consume(t, p, makeLogs(evolvedSessions(5)...))
	waitFor(t, "5 waiting", func() bool { now, _, _ := p.Waiting(); return now == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	type seen struct{ records, pending, late int }
	by := map[string]*seen{}
	for _, o := range flatten(sink.AllLogs()) {
		id, _ := o.attrs["anomaly.session.id"].(string)
		if by[id] == nil {
			by[id] = &seen{}
		}
		switch {
		case o.attrs["anomaly.late"] == true:
			by[id].late++
			if o.attrs["anomaly.route"] != "fallback" {
				t.Errorf("late verdict after cancellation: %v", o.attrs)
			}
		case o.attrs["anomaly.route"] == "pending":
			by[id].records++
			by[id].pending++
		default:
			by[id].records++
			if o.attrs["anomaly.route"] != "fallback" {
				t.Errorf("final verdict after cancellation: %v", o.attrs)
			}
		}
	}
	if len(by) != 5 {
		t.Fatalf("%d sessions out, want 5", len(by))
	}
	for id, c := range by {
		if c.records != 2 || (c.pending > 0) != (c.late == 1) || c.late > 1 || (c.pending != 0 && c.pending != 2) {
			t.Errorf("session %s: %+v", id, *c)
		}
	}
}

// The collector shuts components down with a context that has no deadline.
// Shutdown then waits for the slow stage at most LateAfter, and cancels it:
// each waiting session goes out either pending, its late record saying
// fallback, or, when the cancelled stage answers before the forward, with
// the fallback verdict on its records. Both reasons say shutdown deadline.
// Without the bound it waited for every LLM answer of the backlog (minutes
// with a slow LLM).
func TestShutdownWithoutDeadlineBoundsTheWait(t *testing.T) {
	d := newDeferring() // never released: the slow stage would wait forever
	sink := new(consumertest.LogsSink)
	cfg := attrCfg()
	cfg.MaxRecords, cfg.LateAfter = 2, 300*time.Millisecond
	p := newStarted(t, cfg, d, sink, nil)
	consume(t, p, makeLogs(evolvedSessions(5)...))
	waitFor(t, "5 sessions in the slow stage", func() bool { return d.inFinish.Load() == 5 })
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a liveness check, not a timing target
		t.Fatal("Shutdown without a deadline still waiting for the slow stage after a minute")
	}
	if n := d.finished.Load(); n != 5 {
		t.Fatalf("%d slow-stage calls returned, want 5 (cancelled)", n)
	}
	const reason = "shutdown deadline: LLM stage timed out"
	type seen struct{ pending, fallback, late int }
	by := map[string]*seen{}
	for _, o := range flatten(sink.AllLogs()) {
		id, _ := o.attrs["anomaly.session.id"].(string)
		if by[id] == nil {
			by[id] = &seen{}
		}
		switch route := o.attrs["anomaly.route"]; {
		case o.attrs["anomaly.late"] == true && route == "fallback" && o.attrs["anomaly.reason"] == reason:
			by[id].late++
		case route == "pending":
			by[id].pending++
		case route == "fallback" && o.attrs["anomaly.reason"] == reason:
			by[id].fallback++
		default:
			t.Errorf("record %q: %v", o.body, o.attrs)
		}
	}
	if len(by) != 5 {
		t.Fatalf("%d sessions out, want 5", len(by))
	}
	for id, c := range by {
		if *c != (seen{pending: 2, late: 1}) && *c != (seen{fallback: 2}) {
			t.Errorf("session %s: %+v, want 2 pending records and a late one, or 2 fallback records", id, *c)
		}
	}
}

// Within the bound Shutdown without a deadline does wait: an answer that
// comes in time is on the records, with no late record.
func TestShutdownWithoutDeadlineWaitsForAnswers(t *testing.T) {
	d := newDeferring()
	sink := new(consumertest.LogsSink)
	cfg := attrCfg()
	cfg.MaxRecords, cfg.LateAfter = 2, time.Hour
	p := newStarted(t, cfg, d, sink, nil)
	consume(t, p, makeLogs(evolvedSessions(3)...))
	waitFor(t, "3 sessions in the slow stage", func() bool { return d.inFinish.Load() == 3 })
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // Shutdown is waiting for the slow stage
	close(d.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := flatten(sink.AllLogs())
	if len(out) != 6 {
		t.Fatalf("%d records out, want 6", len(out))
	}
	for _, o := range out {
		if o.attrs["anomaly.route"] != "llm" || o.attrs["anomaly.late"] != nil {
			t.Fatalf("record %q: %v", o.body, o.attrs)
		}
	}
}
