package processor

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
)

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
