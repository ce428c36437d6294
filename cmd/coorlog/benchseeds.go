package main

import (
	"fmt"
	"io"
	"math"
)

// The summary of `coorlog bench` over several seeds (--extra-seeds).

// printSpread summarises the HDFS figures over several seeds: the mean, and
// the smallest and largest value.
func printSpread(w io.Writer, runs []setResult, seeds []uint64) {
	fmt.Fprintf(w, "\nhdfs over seeds %v (data sample, split, training, simulated LLM): mean [min, max]\n", seeds)
	fmt.Fprintf(w, "%-14s %-26s %24s %24s\n", "setting", "method", "F1", "LLM sessions / session")
	for si, setting := range []string{"intra-version", "inter-version"} {
		rows := func(r setResult) []runStats {
			if si == 0 {
				return r.Intra
			}
			return r.Inter
		}
		for m := range rows(runs[0]) {
			var f1s, llm []float64
			for _, r := range runs {
				rs := rows(r)
				if m < len(rs) {
					f1s = append(f1s, float64(rs[m].F1))
					llm = append(llm, ratio(rs[m].LLMSessions, rs[m].Sessions))
				}
			}
			fmt.Fprintf(w, "%-14s %-26s %24s %24s\n", setting, rows(runs[0])[m].Method, spread(f1s), spread(llm))
		}
	}
}

// printSweepSpread is the evolution-strength sweep over the seeds: CoorLog +
// AEM's F1 and LLM share at each strength, mean [min, max].
func printSweepSpread(w io.Writer, runs []setResult) {
	if len(runs) == 0 || len(runs[0].Sweep) == 0 {
		return
	}
	fmt.Fprintf(w, "\nhdfs CoorLog + AEM by evolution strength over the same seeds: mean [min, max]\n%6s %6s %24s %24s\n",
		"entry", "seq", "F1", "LLM sessions / session")
	for i, p := range runs[0].Sweep {
		var f1s, llm []float64
		for _, r := range runs {
			if i < len(r.Sweep) {
				c := r.Sweep[i].CoorLogAEM
				f1s = append(f1s, float64(c.F1))
				llm = append(llm, ratio(c.LLMSessions, c.Sessions))
			}
		}
		fmt.Fprintf(w, "%6.2f %6.2f %24s %24s\n", p.EntryRate, p.SeqRate, spread(f1s), spread(llm))
	}
}

func spread(xs []float64) string {
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, x := range xs {
		lo, hi, sum = math.Min(lo, x), math.Max(hi, x), sum+x
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", sum/float64(len(xs)), lo, hi)
}
