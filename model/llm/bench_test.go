package llm

import (
	"context"
	"fmt"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// BenchmarkSimulatedJudge measures the Evol-CoT machinery without network:
// redaction, prompt rendering and parsing for a 4-line HDFS session with 5
// neighbours (miss: every session has a new template sequence; hit: answered
// from the verdict cache).
func BenchmarkSimulatedJudge(b *testing.B) {
	nbs := []core.Neighbour{neighbour("a", 0, 0.9), neighbour("b", 0, 0.8), neighbour("c", 1, 0.7), neighbour("d", 0, 0.6), neighbour("e", 1, 0.5)}
	b.Run("miss", func(b *testing.B) {
		labels := map[string]int{}
		sessions := make([]core.Session, b.N)
		for i := range sessions {
			s := hdfsSession(fmt.Sprint(i), "1")
			s.Lines = append(s.Lines, "event kind "+letters(i)) // distinct template sequence
			sessions[i] = s
			labels[s.ID] = i % 2
		}
		j := NewSimulated(labels, 0.99, 1).(*Judge)
		b.ResetTimer()
		for i := range b.N {
			if _, err := j.Judge(context.Background(), sessions[i], nbs); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		st := j.Stats()
		b.ReportMetric(float64(st.PromptTokens)/float64(b.N), "prompt-tokens/session")
		b.ReportMetric(float64(st.Calls)/float64(b.N), "calls/session")
	})
	b.Run("hit", func(b *testing.B) {
		j := NewSimulated(map[string]int{"0": 0}, 0.99, 1)
		s := hdfsSession("0", "1")
		if _, err := j.Judge(context.Background(), s, nbs); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := j.Judge(context.Background(), s, nbs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRedactLine(b *testing.B) {
	r, _ := newRedactor(Config{})
	line := hdfsSession("s", "1").Lines[0]
	b.ReportAllocs()
	for range b.N {
		_ = r.redact(line)
	}
}

// letters spells i in base 26 (a word normalisation keeps).
func letters(i int) string {
	b := []byte{'a' + byte(i%26)}
	for i /= 26; i > 0; i /= 26 {
		b = append(b, 'a'+byte(i%26))
	}
	return string(b)
}
