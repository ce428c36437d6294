package defaultencoder

import (
	"context"
	"fmt"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/embedcache"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// benchLines are distinct normalised HDFS-like lines (the encoder's input
// after the cache's normalisation), so that nothing is cached.
func benchLines(n int) []string {
	tpls := []string{
		"<NUM> <NUM> <NUM> INFO dfs.DataNode$PacketResponder: PacketResponder <NUM> for block blk_<ID> terminating %d",
		"<NUM> <NUM> <NUM> INFO dfs.DataNode$DataXceiver: Receiving block blk_<ID> src: /<IP> dest: /<IP> %d",
		"<NUM> <NUM> <NUM> INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: <IP> is added to blk_<ID> size <NUM> %d",
		"<NUM> <NUM> <NUM> WARN dfs.DataNode$DataXceiver: <IP>:Got exception while serving blk_<ID> to /<IP>: %d",
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(tpls[i%len(tpls)], i)
	}
	return out
}

func benchEncoder(b *testing.B) *encoder.Encoder {
	enc, err := Load(encoder.Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { enc.Close() })
	return enc
}

// BenchmarkUncachedBatch1 is the default encoder's time per line embedded
// alone (one forward pass per line), one libtorch thread.
func BenchmarkUncachedBatch1(b *testing.B) {
	enc := benchEncoder(b)
	lines := benchLines(256)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := enc.Embed(ctx, lines[i%len(lines):i%len(lines)+1]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "us/line")
}

// BenchmarkUncachedBatch32 is the time per line in batches of 32.
func BenchmarkUncachedBatch32(b *testing.B) {
	enc := benchEncoder(b)
	lines := benchLines(32 * 16)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		o := (i % 16) * 32
		if _, err := enc.Embed(ctx, lines[o:o+32]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*32), "us/line")
}

// BenchmarkCachedLineDefaultEncoder is a cached line through embedcache in
// front of the default encoder, normalisation included: raw HDFS lines whose
// templates are cached but whose ids, addresses and sizes are new.
func BenchmarkCachedLineDefaultEncoder(b *testing.B) {
	enc := benchEncoder(b)
	c := embedcache.New(enc, 0)
	ctx := context.Background()
	raw := make([]string, 4096)
	for i := range raw {
		raw[i] = fmt.Sprintf("081109 %06d %d INFO dfs.DataNode$PacketResponder: PacketResponder %d for block blk_%d terminating",
			200000+i, i%300, i%3, int64(-8e17)+int64(i)*7919)
	}
	if _, err := c.Embed(ctx, raw[:1]); err != nil {
		b.Fatal(err)
	}
	if normalize.Line(raw[0]) != normalize.Line(raw[4095]) {
		b.Fatal("setup: lines of one template must share a key")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Embed(ctx, raw[i%len(raw):i%len(raw)+1]); err != nil {
			b.Fatal(err)
		}
	}
	if _, m, _ := c.Stats(); m != 1 {
		b.Fatalf("%d misses, want 1", m)
	}
}
