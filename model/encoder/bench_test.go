package encoder

import (
	"context"
	"fmt"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/torchrt"
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
	tok, err := LoadTokenizer(parityDir)
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

func benchEmbed(b *testing.B, enc *Encoder, batch int) {
	lines := benchLines(batch * 8)
	ctx := context.Background()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		start := (i * batch) % len(lines)
		if _, err := enc.Embed(ctx, lines[start:start+batch]); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "us/line")
}

// Small: 2 layers, hidden 128 (the size of the project's default encoder).
func BenchmarkEmbedSmallBatch1(b *testing.B) {
	benchEmbed(b, randomEncoder(b, 2, 128, 2, Options{BatchSize: 1}), 1)
}

func BenchmarkEmbedSmallBatch32(b *testing.B) {
	benchEmbed(b, randomEncoder(b, 2, 128, 2, Options{BatchSize: 32}), 32)
}

// bert-base shape: 12 layers, hidden 768, 12 heads, random weights.
func BenchmarkEmbedBertBaseBatch1(b *testing.B) {
	benchEmbed(b, randomEncoder(b, 12, 768, 12, Options{BatchSize: 1}), 1)
}

func BenchmarkEmbedBertBaseBatch32(b *testing.B) {
	benchEmbed(b, randomEncoder(b, 12, 768, 12, Options{BatchSize: 32}), 32)
}
