package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
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
			if f.plots != "" {
				p := filepath.Join(f.plots, "llm_calls_stream.png")
				if err := writeStreamPlot(p, "HDFS inter-version: LLM calls per 1,000 sessions (simulated LLM)", sr.Inter); err != nil {
					return err
				}
				rep.Plots = append(rep.Plots, p)
			}
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
		if f.plots != "" {
			plots, err := writeScalePlots(f.plots, ms, ls)
			if err != nil {
				return err
			}
			rep.Plots = append(rep.Plots, plots...)
		}
		printScale(stdout, ms, ls)
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.PeakRSSMB = peakRSSMB()
	plots := strings.Join(rep.Plots, ", ")
	if plots == "" {
		plots = "none (--plots DIR writes them)"
	}
	fmt.Fprintf(stdout, "\n%s\nLLM: %s\ntotal %.0fs, peak RSS %.0f MB; plots: %s\n", rep.Machine, rep.LLM, rep.Seconds, rep.PeakRSSMB, plots)
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
	b, err := trainBundle(ctx, train, valid, newCache(enc), ref, int64(f.seed), 0, 0, stderr)
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
