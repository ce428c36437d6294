package coorlogprocessor

import (
	"context"
	"github.com/coorlog/coorlogprocessor/internal/compose"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/coorlog/coorlogprocessor/internal/demolog"
	"github.com/coorlog/coorlogprocessor/internal/metadata"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/embedcache"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"

	streaming "github.com/coorlog/coorlogprocessor/processor"
)

// BenchmarkPipelineHDFS is the component end to end as a collector runs it:
// the shipped default encoder behind the embedding cache, a bundle trained
// with it, HDFS block sessions keyed by a body regex, interleaved as a
// cluster writes them, 2 workers, no LLM. One iteration starts the component
// and warms its embedding cache with other sessions of the system (not
// timed, as in a collector that has been running a while), then feeds every
// line in batches of 100 records and shuts down, which scores the sessions
// still open; records/s counts that span.
//
//	go test -run '^$' -bench PipelineHDFS -benchtime 5x -cpuprofile /tmp/cpu.out .
func BenchmarkPipelineHDFS(b *testing.B) {
	modelDir := b.TempDir()
	opts := encoder.Options{Threads: 1}
	enc, err := compose.Encoder(compose.DefaultEncoder, opts)
	if err != nil {
		b.Fatal(err)
	}
	closeEnc := enc.Close
	var train []model.LabelledSession
	for _, s := range demolog.Synthesize(600, 0.03, 7) {
		train = append(train, model.LabelledSession{ID: s.ID, Label: s.Label, Lines: s.Lines})
	}
	ccfg := coordinator.DefaultConfig()
	ccfg.Epochs = 5
	scfg := smallmodel.DefaultConfig()
	scfg.Epochs = 3
	bun, err := model.Train(context.Background(), embedcache.New(enc, 0), train, nil, model.TrainOptions{
		Coordinator: ccfg, Small: scfg, Encoder: bundle.EncoderRef{Name: compose.DefaultEncoder}, Version: "bench",
	}, nil)
	closeEnc()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bundle.Save(modelDir, bun); err != nil {
		b.Fatal(err)
	}

	toBatches := func(lines []string) []plog.Logs {
		var out []plog.Logs
		for i := 0; i < len(lines); i += 100 {
			ld := plog.NewLogs()
			rec := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
			for _, l := range lines[i:min(i+100, len(lines))] {
				rec.AppendEmpty().Body().SetStr(l)
			}
			out = append(out, ld)
		}
		return out
	}
	var warmLines []string
	for _, s := range demolog.Synthesize(200, 0.5, 10) {
		warmLines = append(warmLines, s.Lines...)
	}
	warm := toBatches(warmLines)
	test := demolog.Synthesize(1000, 0.03, 8)
	lines := demolog.InterleaveWindow(test, 200, rand.New(rand.NewPCG(9, 9)))
	batches := toBatches(lines)
	feed := func(p interface {
		ConsumeLogs(context.Context, plog.Logs) error
	}, batches []plog.Logs) {
		for _, ld := range batches {
			c := plog.NewLogs()
			ld.CopyTo(c) // the processor annotates in place
			if err := p.ConsumeLogs(context.Background(), c); err != nil {
				b.Fatal(err)
			}
		}
	}

	cfg := createDefaultConfig().(*Config)
	cfg.Mode = ModeDetect
	cfg.ModelPath = modelDir
	cfg.Session.Key = KeyConfig{Source: streaming.KeyFromBodyRegex, Regex: `blk_-?\d+`}
	cfg.Session.InactivityTimeout = 500 * time.Millisecond
	cfg.Workers = 2
	cfg.Encoder.Threads = 1
	cfg.AEM.Enabled = false
	verbose := os.Getenv("COORLOG_BENCH_VERBOSE") != ""
	ctx := context.Background()
	b.ResetTimer()
	var busy time.Duration
	for range b.N {
		b.StopTimer()
		sink := new(consumertest.LogsSink)
		p, err := NewFactory().CreateLogs(ctx, processortest.NewNopSettings(metadata.Type), cfg, sink)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Start(ctx, componenttest.NewNopHost()); err != nil {
			b.Fatal(err)
		}
		// Warm the embedding cache with other sessions of the same system,
		// and wait until they are scored.
		feed(p, warm)
		for deadline := time.Now().Add(time.Minute); sink.LogRecordCount() < len(warmLines); {
			if time.Now().After(deadline) {
				b.Fatalf("warm-up: %d of %d records out", sink.LogRecordCount(), len(warmLines))
			}
			time.Sleep(10 * time.Millisecond)
		}
		sink.Reset()
		b.StartTimer()
		start := time.Now()
		feed(p, batches)
		if err := p.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		busy += time.Since(start)
		if n := sink.LogRecordCount(); n != len(lines) {
			b.Fatalf("%d records out, %d in", n, len(lines))
		}
		routes := map[string]int{}
		for _, ld := range sink.AllLogs() {
			for i := range ld.ResourceLogs().Len() {
				sl := ld.ResourceLogs().At(i).ScopeLogs()
				for j := range sl.Len() {
					recs := sl.At(j).LogRecords()
					for k := range recs.Len() {
						r, _ := recs.At(k).Attributes().Get("anomaly.route")
						routes[r.AsString()]++
					}
				}
			}
		}
		if routes[string(model.RouteSmallModel)] < len(lines)/2 {
			b.Fatalf("records by route %v: most should be scored by the small model", routes)
		}
		if verbose {
			b.Logf("records by route: %v", routes)
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/busy.Seconds(), "records/s")
	b.ReportMetric(float64(b.N*len(test))/busy.Seconds(), "sessions/s")
	if verbose {
		b.Logf("%d lines, %d sessions per iteration", len(lines), len(test))
	}
}
