package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
)

// The flags of `coorlog bench`.

type benchFlags struct {
	data, plots, jsonOut, sets, encDir, sizes, lengths, sweep, extraSeeds string
	rate                                                                  float64
	maxNormal                                                             int
	seed, evolveSeed                                                      uint64
	entry, seq                                                            float64
	window, threads, aemBatch                                             int
	skipScale                                                             bool
	llm                                                                   llmFlags
	contentAcc                                                            float64
}

// contentLLM is the simulated LLM of row (d'): content-correlated errors at
// --content-acc, beside the per-session simulated LLM of (b)-(d). Nil when
// --llm is not per-session simulated or --content-acc is 0.
func (f *benchFlags) contentLLM() *llmFlags {
	if !f.llm.simulated || f.llm.content || f.contentAcc == 0 {
		return nil
	}
	return &llmFlags{spec: fmt.Sprintf("%s%g", simContentPrefix, f.contentAcc), simulated: true, content: true, accuracy: f.contentAcc}
}

func parseBench(args []string, stderr io.Writer) (*benchFlags, error) {
	f := &benchFlags{}
	fs := newFlags("bench", stderr)
	fs.StringVar(&f.data, "data", "", "shared data directory (default $COORLOG_DATA or ../shared/data)")
	fs.StringVar(&f.plots, "plots", "", "directory for the PNG figures (default: none; make bench writes them into docs)")
	fs.StringVar(&f.jsonOut, "json", "", "also write every figure as JSON to this file")
	fs.StringVar(&f.sets, "sets", "hdfs,bgl", "data sets to run: hdfs, bgl")
	fs.StringVar(&f.encDir, "encoder", "", "encoder checkpoint directory (default: the shipped default encoder)")
	fs.Float64Var(&f.rate, "anomaly-rate", dataset.DefaultAnomalyRate, "hdfs: share of anomalous sessions")
	fs.IntVar(&f.maxNormal, "max-normal", 0, "hdfs: use at most this many normal sessions (0 = all 4,855)")
	fs.Uint64Var(&f.seed, "seed", 42, "seed of the data, split and training")
	fs.Uint64Var(&f.evolveSeed, "evolve-seed", 1, "seed of the evolution injector")
	fs.Float64Var(&f.entry, "entry-rate", defaultEntryRate, "evolution: share of templates rewritten")
	fs.Float64Var(&f.seq, "seq-rate", defaultSeqRate, "evolution: share of sessions with a sequence change")
	fs.IntVar(&f.window, "window", 100, "sessions per point of the LLM-calls-over-the-stream figure")
	fs.IntVar(&f.aemBatch, "aem-batch", defaultAEMBatch, "LLM findings per AEM model update")
	fs.IntVar(&f.threads, "threads", 0, "libtorch intra-op threads (0 = libtorch default)")
	fs.StringVar(&f.sizes, "scale-sizes", "1000,10000,100000", "kNN memory sizes of the scale figure")
	fs.StringVar(&f.lengths, "scale-lengths", "10,20,50,100,200", "session lengths (lines) of the scale figure")
	fs.BoolVar(&f.skipScale, "skip-scale", false, "skip the scale figures")
	fs.StringVar(&f.extraSeeds, "extra-seeds", "43,44", "hdfs: more data/split/training seeds to repeat the HDFS set with, for the spread of each figure; empty = none")
	fs.StringVar(&f.sweep, "evolve-sweep", "0.1:0.1,0.3:0.2,0.5:0.3", "hdfs: ENTRY:SEQ rate pairs for the evolution-strength sweep (small model alone vs CoorLog+AEM); empty = none")
	f.llm.register(fs)
	fs.Float64Var(&f.contentAcc, "content-acc", 0.95, "with a per-session simulated --llm: also run CoorLog + AEM with content-correlated errors at this accuracy (row (d'); 0 = skip)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if f.llm.spec == "" && f.llm.endpoint == "" {
		f.llm.spec = "simulated:0.99"
	}
	if err := f.llm.validate(); err != nil {
		return nil, err
	}
	for n, v := range map[string]float64{"entry-rate": f.entry, "seq-rate": f.seq, "content-acc": f.contentAcc} {
		if err := checkRate(n, v); err != nil {
			return nil, err
		}
	}
	if f.rate <= 0 || f.rate >= 1 {
		return nil, fmt.Errorf("%w: --anomaly-rate %v must be in (0, 1)", errUsage, f.rate)
	}
	if f.aemBatch <= 0 {
		return nil, fmt.Errorf("%w: --aem-batch must be positive", errUsage)
	}
	if f.window <= 0 {
		return nil, fmt.Errorf("%w: --window must be positive", errUsage)
	}
	for _, s := range strings.Split(f.sets, ",") {
		if s != "hdfs" && s != "bgl" {
			return nil, fmt.Errorf("%w: --sets: unknown set %q (want hdfs, bgl)", errUsage, s)
		}
	}
	if f.extraSeeds != "" {
		if _, err := intList(f.extraSeeds); err != nil {
			return nil, fmt.Errorf("%w: --extra-seeds: %v", errUsage, err)
		}
	}
	if _, err := ratePairs(f.sweep); err != nil {
		return nil, fmt.Errorf("%w: --evolve-sweep: %v", errUsage, err)
	}
	if _, err := intList(f.sizes); err != nil {
		return nil, fmt.Errorf("%w: --scale-sizes: %v", errUsage, err)
	}
	if _, err := intList(f.lengths); err != nil {
		return nil, fmt.Errorf("%w: --scale-lengths: %v", errUsage, err)
	}
	return f, nil
}

func uintList(xs []int) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = uint64(x)
	}
	return out
}

func ratePairs(s string) ([][2]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out [][2]float64
	for _, p := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(p), ":")
		e, err1 := strconv.ParseFloat(a, 64)
		q, err2 := strconv.ParseFloat(b, 64)
		if !ok || err1 != nil || err2 != nil || e < 0 || e > 1 || q < 0 || q > 1 {
			return nil, fmt.Errorf("%q is not ENTRY:SEQ with both rates in [0, 1]", p)
		}
		out = append(out, [2]float64{e, q})
	}
	return out, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", p)
		}
		out = append(out, v)
	}
	return out, nil
}
