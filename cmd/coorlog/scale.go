package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model/normalize"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// memoryPoint is the small model's cost with n sessions in the kNN memory.
type memoryPoint struct {
	Items        int       `json:"items"`
	UsPerSession jsonFloat `json:"us_per_session"` // projection + exact kNN + vote, encoding excluded
	BytesPerItem jsonFloat `json:"bytes_per_item"` // Go heap per memory item (vector, projection, capped text)
	HeapMB       jsonFloat `json:"heap_mb"`
}

// memoryScale measures the small model's time and memory per session as the
// kNN memory grows. The memory holds realistic items: HDFS sessions rendered
// from the shared normal sequences (their capped text is what the memory
// keeps for LLM prompts), with session vectors drawn around one centre per
// distinct template sequence, the way real session vectors cluster.
func memoryScale(ctx context.Context, small *smallmodel.Model, seqs [][]int, sizes []int, seed uint64, stderr io.Writer) ([]memoryPoint, error) {
	dim := small.Dim()
	rng := rand.New(rand.NewPCG(seed, 0x5343414c45000001))
	centres := map[string][]float32{}
	vecFor := func(key string) []float32 {
		c, ok := centres[key]
		if !ok {
			c = make([]float32, dim)
			for i := range c {
				c[i] = float32(rng.NormFloat64())
			}
			centres[key] = c
		}
		v := make([]float32, dim)
		for i := range v {
			v[i] = c[i] + 0.1*float32(rng.NormFloat64())
		}
		return v
	}
	var out []memoryPoint
	for _, n := range sizes {
		before := heapBytes()
		syn := dataset.NewHDFSSynth(seed)
		items := make([]smallmodel.Item, n)
		bar := newProgress(stderr, fmt.Sprintf("memory %d: build", n), n)
		for i := range items {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			seq := seqs[i%len(seqs)]
			label := 0
			if i%33 == 0 { // ~3% anomalous, as in HDFS
				label = 1
			}
			s := syn.Session(seq, label)
			key := normalize.TemplateKey(s.Lines)
			// Distinct keys: the memory dedups identical sessions, and the
			// point here is the cost of n distinct items.
			items[i] = smallmodel.Item{ID: s.ID, Label: label, Lines: s.Lines, Key: fmt.Sprintf("%s-%d", key, i), Vec: vecFor(key)}
			bar.Add(1)
		}
		bar.Done()
		mem, err := smallmodel.NewMemory(smallmodel.MemoryConfig{MaxItems: n}, small, items)
		if err != nil {
			return nil, fmt.Errorf("building a memory of %d: %w", n, err)
		}
		items = nil
		after := heapBytes()
		// Queries: fresh vectors around known centres.
		qs := make([][]float32, 2000)
		keys := make([]string, 0, len(centres))
		for k := range centres {
			keys = append(keys, k)
		}
		for i := range qs {
			qs[i] = vecFor(keys[i%len(keys)])
		}
		t0 := time.Now()
		for _, q := range qs {
			mem.Classify(small, q)
		}
		us := float64(time.Since(t0).Microseconds()) / float64(len(qs))
		out = append(out, memoryPoint{Items: mem.Len(), UsPerSession: jsonFloat(us),
			BytesPerItem: jsonFloat(float64(after-before) / float64(mem.Len())), HeapMB: jsonFloat(float64(after) / (1 << 20))})
		runtime.KeepAlive(mem)
	}
	return out, nil
}

func heapBytes() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
