package processor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
)

// slowSink is a next consumer that takes a while per batch and refuses once
// its context is cancelled, so a test sees whether the emitter's context was
// cancelled too early.
type slowSink struct {
	consumertest.LogsSink
	delay   time.Duration
	refused atomic.Int64
}

func (s *slowSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		s.refused.Add(int64(ld.LogRecordCount()))
		return ctx.Err()
	}
	return s.LogsSink.ConsumeLogs(ctx, ld)
}

// checkAllOut asserts that every input record came out exactly once (by its
// seq attribute) with the annotation, and that the sessions not judged
// before the deadline are fallback, reason "shutdown deadline". It returns
// the number of fallback records.
func checkAllOut(t *testing.T, lds []plog.Logs, n int, scored func(o out) bool) int {
	t.Helper()
	outs := flatten(lds)
	if len(outs) != n {
		t.Fatalf("records out = %d, want %d (records in)", len(outs), n)
	}
	seen := map[int64]bool{}
	fallbacks := 0
	for _, o := range outs {
		seq, _ := o.attrs["seq"].(int64)
		if seen[seq] {
			t.Fatalf("record seq %d emitted twice", seq)
		}
		seen[seq] = true
		for _, k := range []string{"anomaly.route", "anomaly.session.id", "anomaly.score", "anomaly.is_anomaly", "anomaly.model.version"} {
			if _, ok := o.attrs[k]; !ok {
				t.Fatalf("record seq %d lacks %s: %v", seq, k, o.attrs)
			}
		}
		if scored(o) {
			if o.attrs["anomaly.route"] != "small_model" {
				t.Fatalf("scored record seq %d: %v", seq, o.attrs)
			}
			continue
		}
		if o.attrs["anomaly.route"] != "fallback" || o.attrs["anomaly.reason"] != reasonShutdownDeadline {
			t.Fatalf("unscored record seq %d: %v", seq, o.attrs)
		}
		fallbacks++
	}
	return fallbacks
}

// noLeak waits for the goroutine count to come back to base.
func noLeak(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShutdownCancelledContextLosesNothing: Shutdown called with a context
// that has already ended still sends every record. Sessions already judged
// keep their verdict; the open ones, the queued ones and those inside a
// Detect call (that ignores cancellation) are annotated fallback.
func TestShutdownCancelledContextLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stuck bool // the detector blocks, ignoring its context
	}{{"instant detector", false}, {"stuck detector", true}} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			det := &fakeDetector{}
			if tc.stuck {
				det.block, det.ignoreCtx = make(chan struct{}), true
			}
			sink := &consumertest.LogsSink{}
			obs := newCountingObserver()
			cfg := attrCfg()
			cfg.Workers, cfg.MaxRecords = 2, 5
			p, err := New(cfg, det, sink, nil, obs)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Keys "c0".."c5" get 5 records each (closed on max_records
			// before Shutdown); "o0".."o19" get 3 each and are still open.
			var recs []in
			for i := range 30 {
				recs = append(recs, in{key: fmt.Sprintf("c%d", i%6), body: "line"})
			}
			for i := range 60 {
				recs = append(recs, in{key: fmt.Sprintf("o%d", i%20), body: "line"})
			}
			consume(t, p, makeLogs(recs...))
			if tc.stuck {
				waitFor(t, "both workers stuck in Detect", func() bool { return det.calls.Load() == 2 })
			} else {
				waitFor(t, "closed sessions judged", func() bool { return sink.LogRecordCount() == 30 })
			}
			if p.OpenSessions() != 20 {
				t.Fatalf("open sessions = %d, want 20", p.OpenSessions())
			}

			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			start := time.Now()
			if err := p.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown with a cancelled context: %v (nothing was lost, so no error)", err)
			}
			if el := time.Since(start); el > time.Second {
				t.Fatalf("Shutdown took %v with a cancelled context", el)
			}
			fb := checkAllOut(t, sink.AllLogs(), len(recs), func(o out) bool {
				return !tc.stuck && strings.HasPrefix(o.attrs["block"].(string), "c")
			})
			wantFB := 60
			if tc.stuck {
				wantFB = 90
			}
			if fb != wantFB {
				t.Fatalf("fallback records = %d, want %d", fb, wantFB)
			}
			if p.OpenSessions() != 0 || p.BufferedBytes() != 0 {
				t.Fatalf("after Shutdown: open %d, bytes %d", p.OpenSessions(), p.BufferedBytes())
			}
			obs.mu.Lock()
			annotated, exportErr := obs.annotated, obs.exportErr
			obs.mu.Unlock()
			if annotated != len(recs) || exportErr != 0 {
				t.Fatalf("observer: annotated %d (want %d), export failures %d", annotated, len(recs), exportErr)
			}
			if tc.stuck {
				close(det.block) // the stuck workers return and must not send
			}
			noLeak(t, base)
		})
	}
}

// TestShutdownContextExpiresMidShutdown: the context ends while Shutdown
// waits for a detector stuck in Detect, and the next consumer is slow and
// refuses once its context is cancelled. Every record still arrives: the
// deadline stops the wait for the detector, not the delivery.
func TestShutdownContextExpiresMidShutdown(t *testing.T) {
	base := runtime.NumGoroutine()
	det := &fakeDetector{block: make(chan struct{}), ignoreCtx: true}
	sink := &slowSink{delay: 20 * time.Millisecond}
	obs := newCountingObserver()
	cfg := attrCfg()
	cfg.Workers, cfg.QueueSize = 2, 4
	p, err := New(cfg, det, sink, nil, obs)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var recs []in
	for i := range 200 {
		recs = append(recs, in{key: fmt.Sprint(i % 40), body: "line"})
	}
	consume(t, p, makeLogs(recs...))

	// No deadline: Shutdown cannot hurry ahead of time; the context just ends
	// while Shutdown is blocked on the stuck workers and the full queue.
	ctx, cancel := context.WithCancel(context.Background())
	var shutdownErr error
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() { defer wg.Done(); shutdownErr = p.Shutdown(ctx) }()
	waitFor(t, "both workers stuck in Detect", func() bool { return det.calls.Load() == 2 })
	time.Sleep(30 * time.Millisecond)
	cancel()
	wg.Wait()
	if shutdownErr != nil {
		t.Fatalf("Shutdown: %v (nothing was lost, so no error)", shutdownErr)
	}
	if el := time.Since(start); el > shutdownGrace {
		t.Fatalf("Shutdown took %v", el)
	}
	if n := sink.refused.Load(); n != 0 {
		t.Fatalf("the next consumer's context was cancelled: %d records refused", n)
	}
	if fb := checkAllOut(t, sink.AllLogs(), len(recs), func(out) bool { return false }); fb != len(recs) {
		t.Fatalf("fallback records = %d, want %d", fb, len(recs))
	}
	obs.mu.Lock()
	annotated := obs.annotated
	obs.mu.Unlock()
	if annotated != len(recs) {
		t.Fatalf("annotated = %d, want %d", annotated, len(recs))
	}
	close(det.block)
	noLeak(t, base)
}

// blockingSink blocks every batch until release is closed or (when
// honourCtx) its context is cancelled.
type blockingSink struct {
	release   chan struct{}
	honourCtx bool
	entered   atomic.Int64
	accepted  atomic.Int64
}

func (b *blockingSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (b *blockingSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	b.entered.Add(1)
	if b.honourCtx {
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		<-b.release
	}
	b.accepted.Add(int64(ld.LogRecordCount()))
	return nil
}

// TestShutdownGivesUpOnlyPastGrace: a next consumer that blocks past the
// grace period is the one case where records are not delivered; Shutdown
// then returns within about the grace, and the loss is reported once, with
// the exact count, in the error and to ExportObserver.
func TestShutdownGivesUpOnlyPastGrace(t *testing.T) {
	for _, honour := range []bool{true, false} {
		t.Run(fmt.Sprintf("consumerHonoursCtx=%v", honour), func(t *testing.T) {
			base := runtime.NumGoroutine()
			sink := &blockingSink{release: make(chan struct{}), honourCtx: honour}
			obs := newCountingObserver()
			cfg := attrCfg()
			cfg.Workers, cfg.MaxRecords = 2, 10
			p, err := New(cfg, &fakeDetector{}, sink, nil, obs)
			if err != nil {
				t.Fatal(err)
			}
			p.grace = 150 * time.Millisecond
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			var recs []in
			for i := range 100 {
				recs = append(recs, in{key: fmt.Sprint(i % 7), body: "line"})
			}
			consume(t, p, makeLogs(recs...))
			waitFor(t, "the emitter blocked in the next consumer", func() bool { return sink.entered.Load() > 0 })

			// The deadline runs from the context's creation, so the lower
			// bound is measured from there too: from a later start, the
			// deadline plus the grace may be a little less than 200ms.
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err = p.Shutdown(ctx)
			el := time.Since(start)
			if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "100 records not delivered") {
				t.Fatalf("Shutdown error = %v, want the deadline and 100 records not delivered", err)
			}
			if el < 200*time.Millisecond || el > 2*time.Second {
				t.Fatalf("Shutdown took %v, want the deadline plus the grace", el)
			}
			obs.mu.Lock()
			exportErr := obs.exportErr
			obs.mu.Unlock()
			if exportErr != 100 {
				t.Fatalf("ExportFailed records = %d, want 100", exportErr)
			}
			close(sink.release) // a late success is logged, not counted again
			waitFor(t, "emitter done", func() bool {
				select {
				case <-p.emitterDone:
					return true
				default:
					return false
				}
			})
			obs.mu.Lock()
			exportErr = obs.exportErr
			obs.mu.Unlock()
			if exportErr != 100 {
				t.Fatalf("ExportFailed records after release = %d, want still 100", exportErr)
			}
			noLeak(t, base)
		})
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
