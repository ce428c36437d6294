package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/plot"
	"github.com/coorlog/coorlogprocessor/internal/shareddata"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// bench: every method on the same data in one run, intra-version (test
// sessions of the training version) and inter-version (the same test
// sessions after the evolution injector), on HDFS block sessions and BGL
// windows; then the scale figures.

type setResult struct {
	Name         string               `json:"name"`
	Train        [2]int               `json:"train_normal_anomalous"`
	Valid        [2]int               `json:"valid_normal_anomalous"`
	Test         [2]int               `json:"test_normal_anomalous"`
	TrainSeconds float64              `json:"train_seconds"`
	Tau          float64              `json:"tau"`
	Evolution    dataset.EvolveReport `json:"evolution"`
	Intra        []runStats           `json:"intra_version"`
	Inter        []runStats           `json:"inter_version"`
	Sweep        []sweepPoint         `json:"evolution_sweep,omitempty"`
}

// sweepPoint is the inter-version result at one evolution strength.
type sweepPoint struct {
	EntryRate       float64  `json:"entry_rate"`
	SeqRate         float64  `json:"seq_rate"`
	SessionsChanged int      `json:"sessions_changed"`
	SmallAlone      runStats `json:"small_model_alone"`
	CoorLogAEM      runStats `json:"coorlog_aem"`
}

type lengthPoint struct {
	Lines          int       `json:"lines"`
	MsWarm         jsonFloat `json:"ms_per_session_cached"`   // embedding cache warm (steady state)
	MsUncached     jsonFloat `json:"ms_per_session_uncached"` // every line through the encoder
	AllocKBWarm    jsonFloat `json:"alloc_kb_per_session_cached"`
	AllocKBUncache jsonFloat `json:"alloc_kb_per_session_uncached"`
}

type benchReport struct {
	Command     string        `json:"command"`
	Machine     string        `json:"machine"`
	Started     time.Time     `json:"started"`
	Seconds     float64       `json:"seconds"`
	LLM         string        `json:"llm"`
	Seed        uint64        `json:"seed"`
	EvolveSeed  uint64        `json:"evolve_seed"`
	EntryRate   float64       `json:"entry_rate"`
	SeqRate     float64       `json:"seq_rate"`
	AnomalyRate float64       `json:"anomaly_rate"`
	Sets        []setResult   `json:"sets"`
	SeedRuns    []setResult   `json:"hdfs_extra_seed_runs,omitempty"`
	MemoryScale []memoryPoint `json:"memory_scale,omitempty"`
	LengthScale []lengthPoint `json:"length_scale,omitempty"`
	PeakRSSMB   float64       `json:"peak_rss_mb"`
	Plots       []string      `json:"plots"`
}

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
	fs.StringVar(&f.plots, "plots", "docs", "directory for the PNG figures")
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

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseBench(args, stderr)
	if err != nil {
		return err
	}
	dir := f.data
	if dir == "" {
		if dir, err = shareddata.Dir(); err != nil {
			return err
		}
	}
	rep := benchReport{
		Command: "coorlog bench " + strings.Join(args, " "), Machine: machine(), Started: time.Now().UTC(),
		LLM: f.llm.note(), Seed: f.seed, EvolveSeed: f.evolveSeed, EntryRate: f.entry, SeqRate: f.seq, AnomalyRate: f.rate,
	}
	ref := f.encDir
	if ref == "" {
		ref = "default"
	}
	enc, closeEnc, err := loadEncoder(ref, f.threads)
	if err != nil {
		return err
	}
	defer closeEnc()
	work, err := os.MkdirTemp("", "coorlog-bench-")
	if err != nil {
		return fmt.Errorf("bench work directory: %w", err)
	}
	defer os.RemoveAll(work)

	var hdfsBundle *bundle.Bundle
	var hdfsSeqs [][]int
	for _, name := range strings.Split(f.sets, ",") {
		var all []dataset.Session
		switch name {
		case "hdfs":
			all, err = dataset.LoadHDFS(filepath.Join(dir, "hdfs-sessions"), dataset.HDFSOptions{AnomalyRate: f.rate, MaxNormal: f.maxNormal, Seed: f.seed})
			if err == nil {
				hdfsSeqs, err = readNormalSeqs(dir)
			}
		case "bgl":
			all, err = dataset.BGLWindowsFile(filepath.Join(dir, "loghub", "BGL_2k.log"), dataset.DefaultBGLWindow, dataset.DefaultBGLStep)
		}
		if err != nil {
			return err
		}
		sr, b, err := benchSet(ctx, f, name, all, enc, ref, work, stdout, stderr)
		if err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		rep.Sets = append(rep.Sets, sr)
		if name == "hdfs" {
			hdfsBundle = b
			p := filepath.Join(f.plots, "llm_calls_stream.png")
			if err := writeStreamPlot(p, "HDFS inter-version: LLM calls per 1,000 sessions (simulated LLM)", sr.Inter); err != nil {
				return err
			}
			rep.Plots = append(rep.Plots, p)
		}
	}

	if f.extraSeeds != "" && hdfsBundle != nil {
		seeds, _ := intList(f.extraSeeds)
		for _, sd := range seeds {
			g := *f
			g.seed = uint64(sd)
			all, err := dataset.LoadHDFS(filepath.Join(dir, "hdfs-sessions"), dataset.HDFSOptions{AnomalyRate: g.rate, MaxNormal: g.maxNormal, Seed: g.seed})
			if err != nil {
				return err
			}
			sr, _, err := benchSet(ctx, &g, "hdfs", all, enc, ref, work, io.Discard, stderr)
			if err != nil {
				return fmt.Errorf("bench hdfs seed %d: %w", sd, err)
			}
			rep.SeedRuns = append(rep.SeedRuns, sr)
		}
		for _, s := range rep.Sets {
			if s.Name == "hdfs" {
				runs := append([]setResult{s}, rep.SeedRuns...)
				printSpread(stdout, runs, append([]uint64{f.seed}, uintList(seeds)...))
				printSweepSpread(stdout, runs)
			}
		}
	}

	if !f.skipScale {
		if hdfsBundle == nil {
			return fmt.Errorf("the scale figures need the hdfs set (or pass --skip-scale)")
		}
		sizes, _ := intList(f.sizes)
		lengths, _ := intList(f.lengths)
		ms, err := memoryScale(ctx, hdfsBundle.Small, hdfsSeqs, sizes, f.seed, stderr)
		if err != nil {
			return err
		}
		rep.MemoryScale = ms
		ls, err := lengthScale(ctx, hdfsBundle, enc, lengths, f.seed, stderr)
		if err != nil {
			return err
		}
		rep.LengthScale = ls
		plots, err := writeScalePlots(f.plots, ms, ls)
		if err != nil {
			return err
		}
		rep.Plots = append(rep.Plots, plots...)
		printScale(stdout, ms, ls)
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.PeakRSSMB = peakRSSMB()
	fmt.Fprintf(stdout, "\n%s\nLLM: %s\ntotal %.0fs, peak RSS %.0f MB; plots: %s\n", rep.Machine, rep.LLM, rep.Seconds, rep.PeakRSSMB, strings.Join(rep.Plots, ", "))
	if f.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding bench report: %w", err)
		}
		if err := os.WriteFile(f.jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing bench report: %w", err)
		}
	}
	return nil
}

func readNormalSeqs(dir string) ([][]int, error) {
	fh, err := os.Open(filepath.Join(dir, "hdfs-sessions", dataset.HDFSNormalFile))
	if err != nil {
		return nil, fmt.Errorf("opening HDFS sessions: %w", err)
	}
	defer fh.Close()
	return dataset.ReadEventSequences(fh)
}

// benchSet runs one data set: split, evolve, train, then every method on the
// intra- and the inter-version test set.
func benchSet(ctx context.Context, f *benchFlags, name string, all []dataset.Session, enc model.Encoder, ref, work string, stdout, stderr io.Writer) (setResult, *bundle.Bundle, error) {
	sr := setResult{Name: name}
	trainAll, test, err := dataset.Split(all, 0.8, f.seed)
	if err != nil {
		return sr, nil, err
	}
	train, valid, err := dataset.Split(trainAll, 0.9, f.seed+1)
	if err != nil {
		return sr, nil, err
	}
	count := func(s []dataset.Session) [2]int { n, a := dataset.Counts(s); return [2]int{n, a} }
	sr.Train, sr.Valid, sr.Test = count(train), count(valid), count(test)
	evolved, erep, err := evolveSessions(test, f.entry, f.seq, f.evolveSeed)
	if err != nil {
		return sr, nil, err
	}
	erep.Rewrites = trimRewrites(erep.Rewrites)
	sr.Evolution = erep

	t0 := time.Now()
	b, err := trainBundle(ctx, train, valid, newCache(enc), ref, int64(f.seed), 0, stderr)
	if err != nil {
		return sr, nil, err
	}
	sr.TrainSeconds = time.Since(t0).Seconds()
	sr.Tau = b.Coordinator.Tau()
	modelDir := filepath.Join(work, name)
	if _, err := bundle.Save(modelDir, b); err != nil {
		return sr, nil, fmt.Errorf("saving the model: %w", err)
	}
	fmt.Fprintf(stdout, "\n== %s: train %v valid %v test %v (normal, anomalous); trained in %.1fs, tau %.4g\n", name, sr.Train, sr.Valid, sr.Test, sr.TrainSeconds, sr.Tau)
	fmt.Fprintf(stdout, "   evolution (seed %d): %d of %d templates rewritten, %d of %d sessions changed (%d by sequence changes)\n",
		erep.Seed, len(erep.Rewrites), erep.Templates, erep.SessionsChanged, erep.Sessions, erep.SessionsSequence)

	baselines := lexicalBaselines(trainAll)
	for _, setting := range []struct {
		label string
		s     []dataset.Session
		out   *[]runStats
	}{{"intra-version", test, &sr.Intra}, {"inter-version", evolved, &sr.Inter}} {
		run := func(method string, det model.Detector, judge *countingJudge) error {
			st, err := evaluate(ctx, method, det, setting.s, judge, f.window, stderr)
			if err != nil {
				return err
			}
			if judge != nil && f.llm.simulated {
				st.TokensNote = "simulated"
			}
			*setting.out = append(*setting.out, st)
			return nil
		}
		newJudge := func(lf *llmFlags) (*countingJudge, error) {
			j, err := buildJudge(lf, setting.s, int64(f.seed))
			if err != nil {
				return nil, err
			}
			return &countingJudge{inner: j}, nil
		}
		if err := run("(a) small model alone", smallOnly{&stages{enc: newCache(enc), b: b}}, nil); err != nil {
			return sr, nil, err
		}
		j, err := newJudge(&f.llm)
		if err != nil {
			return sr, nil, err
		}
		if err := run("(b) every session to LLM", llmAll{&stages{enc: newCache(enc), b: b}, j}, j); err != nil {
			return sr, nil, err
		}
		// Each cascade run: its row name, LLM and AEM batch (0 = no AEM).
		type cascadeRow struct {
			method string
			lf     *llmFlags
			batch  int
		}
		cascades := []cascadeRow{{"(c) CoorLog", &f.llm, 0}, {"(d) CoorLog + AEM", &f.llm, f.aemBatch}}
		if cl := f.contentLLM(); cl != nil {
			cascades = append(cascades, cascadeRow{fmt.Sprintf("(d') + AEM, content %.3g", cl.accuracy), cl, f.aemBatch})
		}
		for _, cr := range cascades {
			// A fresh copy from disk: AEM must not carry over between runs.
			fresh, err := bundle.Load(bundle.Path(modelDir))
			if err != nil {
				return sr, nil, err
			}
			j, err := newJudge(cr.lf)
			if err != nil {
				return sr, nil, err
			}
			det, closeDet, err := newCascade(ctx, fresh, newCache(enc), j, cr.batch)
			if err != nil {
				return sr, nil, err
			}
			err = run(cr.method, det, j)
			if cerr := closeDet(); err == nil && cerr != nil {
				err = cerr
			}
			if err != nil {
				return sr, nil, err
			}
		}
		for _, bl := range baselines {
			if err := run(bl.name, bl.det, nil); err != nil {
				return sr, nil, err
			}
		}
		title := fmt.Sprintf("%s %s (%d sessions)", name, setting.label, len(setting.s))
		printTable(stdout, title, *setting.out)
		printKinds(stdout, title, *setting.out)
	}
	if name == "hdfs" {
		pairs, _ := ratePairs(f.sweep)
		for _, p := range pairs {
			pt, err := sweepAt(ctx, f, p, test, enc, b, modelDir, stderr)
			if err != nil {
				return sr, nil, err
			}
			sr.Sweep = append(sr.Sweep, pt)
		}
		printSweep(stdout, sr.Sweep)
	}
	return sr, b, nil
}

// sweepAt evolves the test set at one strength and runs the small model
// alone and CoorLog + AEM on it.
func sweepAt(ctx context.Context, f *benchFlags, rates [2]float64, test []dataset.Session, enc model.Encoder, b *bundle.Bundle, modelDir string, stderr io.Writer) (sweepPoint, error) {
	pt := sweepPoint{EntryRate: rates[0], SeqRate: rates[1]}
	ev, rep, err := evolveSessions(test, rates[0], rates[1], f.evolveSeed)
	if err != nil {
		return pt, err
	}
	pt.SessionsChanged = rep.SessionsChanged
	label := fmt.Sprintf("entry %.2g seq %.2g", rates[0], rates[1])
	if pt.SmallAlone, err = evaluate(ctx, label+": small model", smallOnly{&stages{enc: newCache(enc), b: b}}, ev, nil, 0, stderr); err != nil {
		return pt, err
	}
	fresh, err := bundle.Load(bundle.Path(modelDir))
	if err != nil {
		return pt, err
	}
	j, err := buildJudge(&f.llm, ev, int64(f.seed))
	if err != nil {
		return pt, err
	}
	cj := &countingJudge{inner: j}
	det, closeDet, err := newCascade(ctx, fresh, newCache(enc), cj, f.aemBatch)
	if err != nil {
		return pt, err
	}
	pt.CoorLogAEM, err = evaluate(ctx, label+": CoorLog+AEM", det, ev, cj, 0, stderr)
	if cerr := closeDet(); err == nil && cerr != nil {
		err = cerr
	}
	return pt, err
}

func printSweep(w io.Writer, pts []sweepPoint) {
	if len(pts) == 0 {
		return
	}
	fmt.Fprintf(w, "\nhdfs inter-version by evolution strength (same model; simulated LLM)\n%6s %6s %9s %12s %12s %9s %10s %10s\n",
		"entry", "seq", "changed", "small F1", "CoorLog F1", "evolved", "LLM sess", "LLM calls")
	for _, p := range pts {
		c := p.CoorLogAEM
		fmt.Fprintf(w, "%6.2f %6.2f %9d %12s %12s %9s %10s %10d\n", p.EntryRate, p.SeqRate, p.SessionsChanged,
			f3(float64(p.SmallAlone.F1)), f3(float64(c.F1)), pct(float64(c.Evolved)), pct(ratio(c.LLMSessions, c.Sessions)), c.LLMCalls)
	}
}

// DeepLog-style baseline parameters: the top-9 rule of DeepLog with a short
// history, fixed before looking at any result.
const (
	ngramHistory = 3
	ngramTop     = 9
)

func evolveSessions(test []dataset.Session, entry, seq float64, seed uint64) ([]dataset.Session, dataset.EvolveReport, error) {
	return dataset.Evolve(test, dataset.EvolveOptions{EntryRate: entry, SeqRate: seq, Seed: seed, Template: normalizeLine, Version: "evolved"})
}

// trimRewrites keeps the JSON report readable: examples are cut to 300 bytes.
func trimRewrites(rs []dataset.TemplateRewrite) []dataset.TemplateRewrite {
	cut := func(s string) string {
		if len(s) > 300 {
			return s[:300] + "..."
		}
		return s
	}
	for i := range rs {
		rs[i].Before, rs[i].After, rs[i].Template = cut(rs[i].Before), cut(rs[i].After), cut(rs[i].Template)
	}
	return rs
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

// machine describes where the bench ran.
func machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("machine: %d CPUs (%s), %s/%s, %s", runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// peakRSSMB is the process's peak resident set (Linux VmHWM), 0 elsewhere.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
