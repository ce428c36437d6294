package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/plot"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// The scale figures of `coorlog bench` by session length, and the tables
// and plots of both scale figures (memoryScale is in scale.go).

type lengthPoint struct {
	Lines          int       `json:"lines"`
	MsWarm         jsonFloat `json:"ms_per_session_cached"`   // embedding cache warm (steady state)
	MsUncached     jsonFloat `json:"ms_per_session_uncached"` // every line through the encoder
	AllocKBWarm    jsonFloat `json:"alloc_kb_per_session_cached"`
	AllocKBUncache jsonFloat `json:"alloc_kb_per_session_uncached"`
}

// lengthScale measures the per-session cost of encode + coordinator + small
// model as sessions grow, with the embedding cache warm (steady state: the
// templates were seen) and without it (every line through the encoder).
func lengthScale(ctx context.Context, b *bundle.Bundle, enc model.Encoder, lengths []int, seed uint64, stderr io.Writer) ([]lengthPoint, error) {
	syn := dataset.NewHDFSSynth(seed)
	base := []int{5, 5, 5, 22, 11, 9, 11, 9, 11, 9, 26, 26, 26, 23, 23, 23, 21, 21, 21}
	const reps = 20
	warm := &stages{enc: newCache(enc), b: b}
	cold := &stages{enc: enc, b: b}
	var out []lengthPoint
	bar := newProgress(stderr, "session length scale", len(lengths))
	for _, n := range lengths {
		seq := make([]int, n)
		for i := range seq {
			seq[i] = base[i%len(base)]
		}
		sessions := make([][]string, reps)
		for i := range sessions {
			sessions[i] = syn.Session(seq, 0).Lines
		}
		if _, err := warm.run(ctx, sessions[0]); err != nil { // fill the cache
			return nil, err
		}
		measure := func(st *stages) (float64, float64, error) {
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			t0 := time.Now()
			for _, s := range sessions {
				if _, err := st.run(ctx, s); err != nil {
					return 0, 0, err
				}
			}
			el := time.Since(t0)
			runtime.ReadMemStats(&m1)
			return float64(el.Microseconds()) / 1000 / reps, float64(m1.TotalAlloc-m0.TotalAlloc) / 1024 / reps, nil
		}
		wm, wa, err := measure(warm)
		if err != nil {
			return nil, err
		}
		cm, ca, err := measure(cold)
		if err != nil {
			return nil, err
		}
		out = append(out, lengthPoint{Lines: n, MsWarm: jsonFloat(wm), MsUncached: jsonFloat(cm), AllocKBWarm: jsonFloat(wa), AllocKBUncache: jsonFloat(ca)})
		bar.Add(1)
	}
	bar.Done()
	return out, nil
}

func writeScalePlots(dir string, ms []memoryPoint, ls []lengthPoint) ([]string, error) {
	var x, us, kb []float64
	for _, p := range ms {
		x = append(x, float64(p.Items))
		us = append(us, float64(p.UsPerSession))
		kb = append(kb, float64(p.BytesPerItem)/1024)
	}
	p1 := filepath.Join(dir, "scale_memory.png")
	if err := plot.WritePNG(p1, plot.Chart{
		Title: "small model vs kNN memory size (HDFS sessions)", XLabel: "sessions in kNN memory", YLabel: "µs per session / KiB per item (log)", LogX: true, LogY: true,
		Series: []plot.Series{
			{Name: "time per session (µs, projection + exact kNN + vote)", X: x, Y: us},
			{Name: "memory per item (KiB, vector + projection + capped text)", X: x, Y: kb, Dashed: true},
		},
	}); err != nil {
		return nil, err
	}
	var lx, warm, cold []float64
	for _, p := range ls {
		lx = append(lx, float64(p.Lines))
		warm = append(warm, float64(p.MsWarm))
		cold = append(cold, float64(p.MsUncached))
	}
	p2 := filepath.Join(dir, "scale_length.png")
	if err := plot.WritePNG(p2, plot.Chart{
		Title: "time per session vs session length (encode + coordinator + small model)", XLabel: "lines per session", YLabel: "ms per session (log)", LogX: true, LogY: true,
		Series: []plot.Series{
			{Name: "embedding cache warm", X: lx, Y: warm},
			{Name: "no cache (every line through the encoder)", X: lx, Y: cold, Dashed: true},
		},
	}); err != nil {
		return nil, err
	}
	return []string{p1, p2}, nil
}

func printScale(w io.Writer, ms []memoryPoint, ls []lengthPoint) {
	fmt.Fprintf(w, "\nsmall model vs kNN memory size (encoding excluded)\n%10s %14s %14s %10s\n", "items", "µs/session", "bytes/item", "heap MB")
	for _, p := range ms {
		fmt.Fprintf(w, "%10d %14.2f %14.0f %10.1f\n", p.Items, float64(p.UsPerSession), float64(p.BytesPerItem), float64(p.HeapMB))
	}
	fmt.Fprintf(w, "\nper session vs session length (encode + coordinator + small model)\n%8s %16s %18s %16s %18s\n", "lines", "ms cached", "ms uncached", "KiB alloc cached", "KiB alloc uncached")
	for _, p := range ls {
		fmt.Fprintf(w, "%8d %16.3f %18.3f %16.1f %18.1f\n", p.Lines, float64(p.MsWarm), float64(p.MsUncached), float64(p.AllocKBWarm), float64(p.AllocKBUncache))
	}
}
