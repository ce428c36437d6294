package smallmodel

import (
	"context"

	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"testing"
)

// BenchmarkDetect10kParts splits BenchmarkDetect10k (width 128) into its stages.
func BenchmarkDetect10kParts(b *testing.B) {
	s := newSynth(8, 128)
	m, _ := Train(context.Background(), s.samples(200, 50), Config{Epochs: 1}, nil)
	mem, _ := NewMemory(MemoryConfig{}, m, items(s.samples(9000, 1000)))
	q := s.session(true)
	p := m.Project(q)
	b.Run("project", func(b *testing.B) {
		measureCPU(b, func() { m.Project(q) })
	})
	b.Run("search", func(b *testing.B) {
		measureCPU(b, func() { mem.Search(p, 5) })
	})
	b.Run("dotrows", func(b *testing.B) {
		out := make([]float32, mem.Len())
		measureCPU(b, func() { vec.DotRows(mem.proj, p, out) })
	})
}
