package processor

import (
	"context"
	"fmt"
	"os"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// checkingSink counts what reaches the next consumer and proves that every
// input record arrives exactly once, annotated.
type checkingSink struct {
	mu        sync.Mutex
	seen      []bool // by input sequence number
	dups      int
	unmarked  int
	records   int
	batches   int
	fallbacks int
}

func (c *checkingSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *checkingSink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				c.records++
				seq, _ := lr.Attributes().Get("seq")
				i := int(seq.Int())
				if c.seen[i] {
					c.dups++
				}
				c.seen[i] = true
				// Every record carries is_anomaly; a fallback session carries its
				// route on every record (AttributesCompact leaves it off only the
				// later records of a session judged normal).
				if _, ok := lr.Attributes().Get("anomaly.is_anomaly"); !ok {
					c.unmarked++
				} else if route, ok := lr.Attributes().Get("anomaly.route"); ok && route.Str() == "fallback" {
					c.fallbacks++
				}
			}
		}
	}
	return nil
}

// TestSoak pushes 1M records with 100k distinct session keys through the
// processor (200k/20k under -race or -short) and proves that every record
// comes out exactly once, annotated, that the caps hold throughout, and that
// the gauges return to zero. Keys arrive interleaved round-robin over a
// window of open keys, 10 records each.
//
//   - tight: the window (30% of the keys) is larger than both caps, the
//     worst case for an LRU: nearly every session is flushed by a cap. Its
//     sessions never time out (inactivity 1 h), so that this holds however
//     slowly a busy machine feeds them: with 100 ms, a loaded CI machine
//     (33k records/s) let most of them close idle first.
//   - roomy: the window (10%) fits the byte cap; sessions close on
//     max_records and inactivity, as in normal operation (when the CPU is
//     saturated, idle sessions wait for room in the queue and the
//     open-sessions cap may flush some of them).
func TestSoak(t *testing.T) {
	records, keys := 1_000_000, 100_000
	if (raceEnabled && os.Getenv("COORLOG_SOAK_FULL") == "") || testing.Short() {
		records, keys = 200_000, 20_000
	}
	for _, sc := range []struct {
		name     string
		active   int // keys open at once
		maxOpen  int
		maxBytes int64
		idle     time.Duration
		wantMost string // the close reason that must dominate
	}{
		{"tight", keys * 3 / 10, keys / 5, 8 << 20, time.Hour, CloseEvicted},
		{"roomy", keys / 10, keys / 5, 64 << 20, 100 * time.Millisecond, ""},
	} {
		t.Run(sc.name, func(t *testing.T) {
			cfg := cfgOf(Config{
				KeySource: KeyFromAttribute, KeyName: "block",
				MaxRecords: 8, InactivityTimeout: sc.idle,
				MaxOpenSessions: sc.maxOpen, MaxBufferedBytes: sc.maxBytes,
				Workers: 2, QueueSize: 256,
			})
			soak(t, cfg, records, keys, sc.active, sc.wantMost)
		})
	}
}

func soak(t *testing.T, cfg Config, records, keys, active int, wantMost string) {
	const perKey, batch = 10, 1000
	sink := &checkingSink{seen: make([]bool, records)}
	obs := newCountingObserver()
	p, err := New(cfg, soakDetector{}, sink, nil, obs)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Sample the live Go heap (as of the last GC) while the stream runs.
	var peakLive atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peakLive.Load() {
				peakLive.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()

	start := time.Now()
	ctx := context.Background()
	for base := 0; base < records; base += batch {
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		lrs.EnsureCapacity(batch)
		for i := base; i < base+batch; i++ {
			chunk, j := i/(active*perKey), i%(active*perKey)
			key := chunk*active + j%active
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(fmt.Sprintf("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_%d terminating", key))
			lr.Attributes().PutStr("block", fmt.Sprintf("blk_%d", key))
			lr.Attributes().PutInt("seq", int64(i))
		}
		if err := p.ConsumeLogs(ctx, ld); err != nil {
			t.Fatal(err)
		}
		if b, o := p.BufferedBytes(), p.OpenSessions(); b > cfg.MaxBufferedBytes || o > int64(cfg.MaxOpenSessions) {
			t.Fatalf("after %d records: %d bytes / %d sessions buffered, caps %d / %d", base+batch, b, o, cfg.MaxBufferedBytes, cfg.MaxOpenSessions)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	elapsed := time.Since(start)
	close(stop)
	<-sampled

	sink.mu.Lock()
	defer sink.mu.Unlock()
	missing := 0
	for _, ok := range sink.seen {
		if !ok {
			missing++
		}
	}
	if sink.records != records || missing != 0 || sink.dups != 0 || sink.unmarked != 0 {
		t.Fatalf("in %d, out %d: missing %d, duplicated %d, unannotated %d", records, sink.records, missing, sink.dups, sink.unmarked)
	}
	if p.OpenSessions() != 0 || p.BufferedBytes() != 0 {
		t.Fatalf("after shutdown: %d sessions, %d bytes", p.OpenSessions(), p.BufferedBytes())
	}
	if pb, po := p.peakBuffered.Load(), p.peakOpen.Load(); pb > cfg.MaxBufferedBytes || po > int64(cfg.MaxOpenSessions) {
		t.Fatalf("peaks %d bytes / %d sessions over caps", pb, po)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	closedTotal := 0
	for _, n := range obs.closed {
		closedTotal += n
	}
	if obs.opened != closedTotal || obs.annotated != records {
		t.Fatalf("observer: opened %d, closed %d %v, annotated %d", obs.opened, closedTotal, obs.closed, obs.annotated)
	}
	if wantMost != "" && obs.closed[wantMost] < closedTotal/2 {
		t.Errorf("closes %v: want mostly %s", obs.closed, wantMost)
	}
	t.Logf("records in=%d out=%d keys=%d in %v (%.0f rec/s, race=%v); sessions %d, closes %v; routes %v; batches out %d",
		records, sink.records, keys, elapsed.Round(time.Millisecond), float64(records)/elapsed.Seconds(), raceEnabled,
		obs.opened, obs.closed, obs.routes, sink.batches)
	t.Logf("peak buffered %d B (cap %d), peak open %d (cap %d), peak live Go heap %.1f MiB",
		p.peakBuffered.Load(), cfg.MaxBufferedBytes, p.peakOpen.Load(), cfg.MaxOpenSessions, float64(peakLive.Load())/(1<<20))
}

// soakDetector answers instantly, on both paths, with verdictFor's logic and
// without keeping the sessions.
type soakDetector struct{}

func (soakDetector) Detect(_ context.Context, s core.Session) (core.Verdict, error) {
	return verdictFor(s), nil
}

func (soakDetector) DetectFast(_ context.Context, s core.Session) (core.Verdict, error) {
	v := verdictFor(s)
	v.Route = core.RouteCache
	return v, nil
}
