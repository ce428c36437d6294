package tokenizer

import (
	"fmt"
	"testing"
)

// benchLines are HDFS-like lines of realistic length (the same as the
// encoder's benchmark lines).
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

// BenchmarkTokenize is the tokenizer alone, per line, at the encoder's
// default length limit (64).
func BenchmarkTokenize(b *testing.B) {
	tok, err := Load(parityDir)
	if err != nil {
		b.Fatal(err)
	}
	lines := benchLines(256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok.EncodeMax(lines[i%len(lines)], 64)
	}
}
