package processor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/coorlog/coorlogprocessor/model/core"
)

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
	// Only the session that shutdown cut off is marked partial: more of it
	// may follow (on another collector, after a rebalance).
	for _, o := range flatten(sink.AllLogs()) {
		if got, want := o.attrs["anomaly.session.partial"] == true, o.body == "line 6"; got != want {
			t.Errorf("record %q: partial = %v, want %v (%v)", o.body, got, want, o.attrs)
		}
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
	if got := flatten(sink.AllLogs())[0]; got.body != "b1" || got.attrs["anomaly.session.partial"] != true {
		t.Fatalf("evicted %q first (%v), want b1 marked partial", got.body, got.attrs)
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

func filter(xs []string, prefix string) []string {
	var o []string
	for _, x := range xs {
		if strings.HasPrefix(x, prefix) {
			o = append(o, x)
		}
	}
	return o
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

// A session idle for the inactivity timeout has ended, even when a cap or
// Shutdown closes it before the ticker does (the ticker runs every quarter
// timeout, and waits for room in the scoring queue): it closes as inactive,
// not cut off. One still within its timeout is cut off. The Processor is not
// started, so no ticker runs and the clock is the test's.
func TestAnEndedSessionIsNotCutOff(t *testing.T) {
	cfg := attrCfg()
	cfg.MaxOpenSessions = 2
	cfg.InactivityTimeout = time.Second
	sink := &consumertest.LogsSink{}
	p, err := New(cfg, &fakeDetector{}, sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	at := func(d time.Duration, key string) []*session {
		pend, _, _ := p.extract(makeLogs(in{key: key, body: key}), nil)
		p.mu.Lock()
		closed, _ := p.insert(pend, t0.Add(d).UnixNano())
		p.mu.Unlock()
		p.settleMu.Lock()
		p.unsettled++ // the new record; the closed sessions are not sent, so they settle here
		for _, s := range closed {
			p.unsettled -= int64(s.settles())
		}
		p.settleMu.Unlock()
		return closed
	}
	reasons := func(ss []*session) (out []string) {
		for _, s := range ss {
			out = append(out, s.key.key+" "+s.reason)
		}
		return out
	}
	at(0, "ended")
	at(1500*time.Millisecond, "open") // "ended" has been idle past its timeout since 1 s
	if got := reasons(at(1600*time.Millisecond, "new")); len(got) != 1 || got[0] != "ended "+CloseInactivity {
		t.Fatalf("closed for room: %v, want [ended %s]", got, CloseInactivity)
	}
	if got := reasons(at(1700*time.Millisecond, "newer")); len(got) != 1 || got[0] != "open "+CloseEvicted {
		t.Fatalf("closed for room: %v, want [open %s]", got, CloseEvicted)
	}

	// Shutdown: "new" (idle 1.1 s) has ended, "newer" (0.9 s) is cut off.
	p.now = func() time.Time { return t0.Add(2600 * time.Millisecond) }
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	shutdown(t, p)
	partial := map[string]bool{}
	for _, o := range flatten(sink.AllLogs()) {
		partial[o.body] = o.attrs["anomaly.session.partial"] == true
	}
	if want := map[string]bool{"new": false, "newer": true}; !maps.Equal(partial, want) {
		t.Fatalf("partial by session: %v, want %v", partial, want)
	}
}
