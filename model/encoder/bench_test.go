package encoder

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/torchrt"
	"github.com/coorlog/coorlogprocessor/model/encoder/tokenizer"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
)

// benchLines are HDFS-like lines of realistic length.
func benchLines(n int) []string {
	tmpl := []string{
		"Receiving block blk_%d src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
		"PacketResponder %d for block blk_38865049064139660 terminating",
		"Verification succeeded for blk_-%d",
		"BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/part-%d blk_-1608999687919862906",
		"Deleting block blk_%d file /mnt/hadoop/dfs/data/current/subdir19/blk_1",
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(tmpl[i%len(tmpl)], 7919*i)
	}
	return out
}

// randomEncoder builds an encoder with random weights of the given shape
// over the parity fixture's vocabulary.
func randomEncoder(b *testing.B, layers, hidden, heads int, opts Options) *Encoder {
	b.Helper()
	tok, err := tokenizer.Load(parityDir)
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultBertConfig(tok.VocabSize())
	cfg.NumHiddenLayers, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize = layers, hidden, heads, 4*hidden
	torchrt.ManualSeed(1)
	vs := nn.NewVarStore(gotch.CPU)
	bert := NewBert(vs.Root(), cfg)
	if err := vs.Freeze(); err != nil {
		b.Fatal(err)
	}
	enc, err := NewEncoder(bert, tok, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { vs.Destroy() })
	return enc
}

// BenchmarkEmbed measures time per line (us/line) of Encoder.Embed with
// random weights: "small" is 2 layers, hidden 128, 2 heads, intermediate 512
// (the size of the project's default encoder); "bertbase" is bert-base's
// shape (12 layers, 768, 12 heads, 3072). Lines are HDFS-like, 25-35
// tokens. Threads is libtorch's intra-op pool.
func BenchmarkEmbed(b *testing.B) {
	for _, shape := range []struct {
		name                  string
		layers, hidden, heads int
	}{{"small", 2, 128, 2}, {"bertbase", 12, 768, 12}} {
		enc := randomEncoder(b, shape.layers, shape.hidden, shape.heads, Options{})
		for _, batch := range []int{1, 32} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/batch%d/threads%d", shape.name, batch, threads), func(b *testing.B) {
					prev := torchrt.NumThreads()
					SetThreads(threads)
					defer SetThreads(prev)
					e, err := NewEncoder(enc.bert, enc.tok, Options{BatchSize: batch})
					if err != nil {
						b.Fatal(err)
					}
					lines := benchLines(batch * 8)
					ctx := context.Background()
					b.ResetTimer()
					cpu0 := cpuTime()
					n := 0
					for i := 0; i < b.N; i++ {
						start := (i * batch) % len(lines)
						if _, err := e.Embed(ctx, lines[start:start+batch]); err != nil {
							b.Fatal(err)
						}
						n += batch
					}
					// Wall time suffers when the machine is shared; the
					// process CPU time per line does much less.
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "us/line")
					b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-us/line")
				})
			}
		}
	}
}

// cpuTime is the CPU time (user+system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEmbedParallel has GOMAXPROCS goroutines share one small encoder
// (batch 32, 1 libtorch thread each): their forward passes run in parallel.
// Compare with BenchmarkEmbed/small/batch32/threads1.
func BenchmarkEmbedParallel(b *testing.B) {
	enc := randomEncoder(b, 2, 128, 2, Options{BatchSize: 32, Threads: 1})
	lines := benchLines(256)
	var n atomic.Int64
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			start := (i * 32) % len(lines)
			if _, err := enc.Embed(context.Background(), lines[start:start+32]); err != nil {
				b.Error(err)
				return
			}
			n.Add(32)
			i++
		}
	})
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n.Load()), "us/line")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n.Load()), "cpu-us/line")
}
