package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/shareddata"
)

func runSessions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sessions", stderr)
	source := fs.String("source", "hdfs", "data set: hdfs (block sessions), bgl (fixed windows) or jsonl (a labelled session file, --in)")
	in := fs.String("in", "", "jsonl: the labelled JSONL session file to split (e.g. a corpus release's sessions.jsonl)")
	stratify := fs.String("stratify", "", "split stratified by label or kind (label and attributes.kind); default: kind for jsonl, label otherwise")
	data := fs.String("data", "", "shared data directory (default $COORLOG_DATA or ../shared/data)")
	out := fs.String("out", "", "output directory for train.jsonl, valid.jsonl, test.jsonl (required)")
	rate := fs.Float64("anomaly-rate", dataset.DefaultAnomalyRate, "hdfs: share of anomalous sessions (real HDFS: 0.029)")
	maxNormal := fs.Int("max-normal", 0, "hdfs: use at most this many normal sessions (0 = all 4,855)")
	window := fs.Int("window", dataset.DefaultBGLWindow, "bgl: lines per window")
	step := fs.Int("step", dataset.DefaultBGLStep, "bgl: lines between window starts")
	testFrac := fs.Float64("test-frac", 0.2, "share of each label held out for test")
	validFrac := fs.Float64("valid-frac", 0.1, "share of each label of the training part held out for validation (tau)")
	seed := fs.Uint64("seed", 42, "seed of the subsampling, rendering and split")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "out"); err != nil {
		return err
	}
	for n, v := range map[string]float64{"test-frac": *testFrac, "valid-frac": *validFrac} {
		if err := checkRate(n, v); err != nil {
			return err
		}
	}
	strat := *stratify
	if strat == "" {
		strat = "label"
		if *source == "jsonl" {
			strat = "kind"
		}
	}
	split := dataset.Split
	switch strat {
	case "label":
	case "kind":
		split = func(s []dataset.Session, frac float64, seed uint64) ([]dataset.Session, []dataset.Session, error) {
			return dataset.SplitBy(s, frac, seed, dataset.KindOrLabel)
		}
	default:
		return fmt.Errorf("%w: --stratify %q: want label or kind", errUsage, *stratify)
	}
	if (*source == "jsonl") != (*in != "") {
		return fmt.Errorf("%w: --in goes with --source jsonl, and --source jsonl needs --in", errUsage)
	}
	if *rate <= 0 || *rate >= 1 {
		return fmt.Errorf("%w: --anomaly-rate %v must be in (0, 1)", errUsage, *rate)
	}
	// The flags are checked before the data directory is looked for: a usage error must not
	// depend on whether ../shared/data exists on the machine.
	if *source != "hdfs" && *source != "bgl" && *source != "jsonl" {
		return fmt.Errorf("%w: --source %q: want hdfs, bgl or jsonl", errUsage, *source)
	}
	dir := *data
	if dir == "" && *source != "jsonl" {
		d, err := shareddata.Dir()
		if err != nil {
			return err
		}
		dir = d
	}
	var all []dataset.Session
	var err error
	switch *source {
	case "hdfs":
		all, err = dataset.LoadHDFS(filepath.Join(dir, "hdfs-sessions"), dataset.HDFSOptions{AnomalyRate: *rate, MaxNormal: *maxNormal, Seed: *seed})
	case "jsonl":
		all, err = dataset.ReadFile(*in)
	case "bgl":
		all, err = dataset.BGLWindowsFile(filepath.Join(dir, "loghub", "BGL_2k.log"), *window, *step)
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	trainAll, test, err := split(all, 1-*testFrac, *seed)
	if err != nil {
		return err
	}
	train, valid, err := split(trainAll, 1-*validFrac, *seed+1)
	if err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		s    []dataset.Session
	}{{"train", train}, {"valid", valid}, {"test", test}} {
		path := filepath.Join(*out, p.name+".jsonl")
		if err := dataset.WriteFile(path, p.s); err != nil {
			return err
		}
		n, a := dataset.Counts(p.s)
		fmt.Fprintf(stdout, "%-5s %s: %d sessions (%d normal, %d anomalous)\n", p.name, path, len(p.s), n, a)
	}
	return nil
}
