package processor

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// instantDetector answers at once with a fixed verdict: the benchmark
// measures the streaming side alone.
type instantDetector struct{}

func (instantDetector) Detect(context.Context, core.Session) (core.Verdict, error) {
	return core.Verdict{Score: 0.1, Route: core.RouteSmallModel, RecError: 0.01, ModelVersion: "bench"}, nil
}

// hdfsBatch builds n HDFS-like records (about 110-byte bodies, a block id
// each, one resource and scope per batch, as a filelog receiver sends them);
// record i of the stream belongs to block (i / perBlock) spread over
// `active` open blocks.
func hdfsBatch(start, n, active, perBlock int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "hdfs-datanode")
	rl.Resource().Attributes().PutStr("host.name", "node-17")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("filelog")
	lrs := sl.LogRecords()
	lrs.EnsureCapacity(n)
	for i := start; i < start+n; i++ {
		// Interleave: consecutive records go to different blocks of the active window.
		blk := (i/(active*perBlock))*active + i%active
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(fmt.Sprintf("081109 2036%02d %d INFO dfs.DataNode$PacketResponder: PacketResponder %d for block blk_%d terminating",
			i%60, 100+i%900, i%3, 3886504906413966+blk))
		lr.Attributes().PutStr("log.file.name", "hdfs.log")
		lr.SetObservedTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
	}
	return ld
}

// BenchmarkConsumeLogs: one op is one record through the whole processor
// (key regex, buffering, detector call, annotation, batching, handing to the
// next consumer). The final Shutdown is timed too, so nothing is left
// unaccounted in the async stages. Run with -cpu 1 for the one-core figure.
// records/cpu-s divides by the process CPU time of the timed regions, which
// a busy shared machine disturbs less than the wall clock.
func BenchmarkConsumeLogs(b *testing.B) {
	const batch, active, perBlock = 512, 2000, 20
	cfg := cfgOf(Config{KeySource: KeyFromBodyRegex, KeyRegex: `blk_-?\d+`, MaxRecords: perBlock})
	obs := &routeCounter{}
	p, err := New(cfg, instantDetector{}, consumertest.NewNop(), nil, obs)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Warm up: sessions, interned resource/scope, pools and maps at their working size.
	next := 0
	for range 100 {
		if err := p.ConsumeLogs(ctx, hdfsBatch(next, batch, active, perBlock)); err != nil {
			b.Fatal(err)
		}
		for len(p.queue) > 0 {
			runtime.Gosched()
		}
		next += batch
	}
	b.ReportAllocs()
	var cpu time.Duration // process CPU inside the timed regions only
	b.ResetTimer()
	cpu0 := processCPU()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		b.StopTimer()
		cpu += processCPU() - cpu0
		ld := hdfsBatch(next, n, active, perBlock)
		cpu0 = processCPU()
		b.StartTimer()
		if err := p.ConsumeLogs(ctx, ld); err != nil {
			b.Fatal(err)
		}
		// A receiver waits on its input between batches; yielding here until the
		// workers have taken the closed sessions lets them run on the one core,
		// inside the timed region (a producer that never yields would push the
		// excess to the fast path, by design, and this would not measure the
		// full path).
		for len(p.queue) > 0 {
			runtime.Gosched()
		}
		next += n
		done += n
	}
	if err := p.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu += processCPU() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "records/cpu-s")
	}
	if f := obs.fallback.Load(); f > 0 {
		b.Fatalf("%d of %d sessions fell back (queue full): the figure would not measure the full path", f, obs.sessions.Load())
	}
}

// routeCounter counts verdicts and fallbacks for the benchmark.
type routeCounter struct {
	NopObserver
	sessions, fallback atomic.Int64
}

func (r *routeCounter) Verdict(_ context.Context, route string, _, _ bool) {
	r.sessions.Add(1)
	if route == string(core.RouteFallback) {
		r.fallback.Add(1)
	}
}
