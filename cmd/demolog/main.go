// Command demolog prepares the demo's input.
//
//	demolog synth   --out DIR [--sessions 3000] [--anomaly-rate 0.1] [--seed 7]
//	    a synthetic labelled HDFS data set (train/valid/test.jsonl) for machines
//	    without the shared data (use `coorlog sessions` when it is there)
//	demolog compose --test test.jsonl --evolved evolved.jsonl --log hdfs.log --truth truth.jsonl
//	                [--normal 30] [--anomalous 10] [--evolved-sessions 20] [--concurrent 0] [--seed 7]
//	    a raw log file of interleaved normal, anomalous and evolved block
//	    sessions, and their labels (exchange format, attribute "kind")
//	demolog lines   --out hdfs.log [--sessions 10000] [--anomaly-rate 0.03] [--concurrent 0] [--seed 7]
//	    an unlabelled raw log of interleaved synthetic block sessions (load input)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/demolog"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demolog:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: demolog synth|compose [flags]")
	}
	switch args[0] {
	case "synth":
		return synth(args[1:], stdout)
	case "compose":
		return compose(args[1:], stdout)
	case "lines":
		return linesCmd(args[1:], stdout)
	default:
		return fmt.Errorf("unknown subcommand %q (want synth, compose or lines)", args[0])
	}
}

func synth(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demolog synth", flag.ContinueOnError)
	out := fs.String("out", "", "output directory (required)")
	n := fs.Int("sessions", 3000, "sessions to synthesise")
	rate := fs.Float64("anomaly-rate", 0.1, "share of anomalous sessions")
	seed := fs.Uint64("seed", 7, "seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *n < 10 || *rate <= 0 || *rate >= 1 {
		return errors.New("synth: need --out, --sessions >= 10 and --anomaly-rate in (0, 1)")
	}
	all := demolog.Synthesize(*n, *rate, *seed)
	trainAll, test, err := dataset.Split(all, 0.8, *seed)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	train, valid, err := dataset.Split(trainAll, 0.9, *seed+1)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	for _, part := range []struct {
		name string
		s    []dataset.Session
	}{{"train", train}, {"valid", valid}, {"test", test}} {
		name, s := part.name, part.s
		p := filepath.Join(*out, name+".jsonl")
		if err := dataset.WriteFile(p, s); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
		nn, na := dataset.Counts(s)
		fmt.Fprintf(stdout, "%-5s %s: %d sessions (%d normal, %d anomalous; synthetic)\n", name, p, len(s), nn, na)
	}
	return nil
}

func compose(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demolog compose", flag.ContinueOnError)
	testPath := fs.String("test", "", "labelled sessions (exchange format) to draw normal and anomalous sessions from")
	evolvedPath := fs.String("evolved", "", "output of `coorlog evolve` to draw evolved sessions from")
	logPath := fs.String("log", "", "raw log file to write")
	truthPath := fs.String("truth", "", "labels of the written sessions (exchange format)")
	var opt demolog.Options
	fs.IntVar(&opt.Normal, "normal", 30, "normal sessions")
	fs.IntVar(&opt.Anomalous, "anomalous", 10, "anomalous sessions")
	fs.IntVar(&opt.Evolved, "evolved-sessions", 20, "evolved sessions (normal and anomalous, as labelled)")
	fs.Uint64Var(&opt.Seed, "seed", 7, "seed")
	fs.IntVar(&opt.Concurrent, "concurrent", 0, "sessions in progress at a time (0 = all interleaved at once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if opt.Concurrent < 0 {
		return errors.New("compose: --concurrent must not be negative")
	}
	if *testPath == "" || *evolvedPath == "" || *logPath == "" || *truthPath == "" {
		return errors.New("compose: --test, --evolved, --log and --truth are required")
	}
	test, err := dataset.ReadFile(*testPath)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	evolved, err := dataset.ReadFile(*evolvedPath)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	lines, truth, err := demolog.Compose(test, evolved, opt)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	if err := os.WriteFile(*logPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("compose: writing log: %w", err)
	}
	if err := dataset.WriteFile(*truthPath, truth); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	kinds := map[string][2]int{}
	for _, s := range truth {
		k := kinds[s.Attributes[demolog.KindAttr]]
		k[s.Label]++
		kinds[s.Attributes[demolog.KindAttr]] = k
	}
	fmt.Fprintf(stdout, "%s: %d lines from %d sessions", *logPath, len(lines), len(truth))
	for _, k := range []string{demolog.KindNormal, demolog.KindAnomalous, demolog.KindEvolved} {
		fmt.Fprintf(stdout, "; %s %d (%d anomalous)", k, kinds[k][0]+kinds[k][1], kinds[k][1])
	}
	fmt.Fprintln(stdout)
	return nil
}

func linesCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demolog lines", flag.ContinueOnError)
	out := fs.String("out", "", "raw log file to write (required)")
	n := fs.Int("sessions", 10000, "sessions to synthesise")
	rate := fs.Float64("anomaly-rate", 0.03, "share of anomalous sessions")
	seed := fs.Uint64("seed", 7, "seed")
	window := fs.Int("concurrent", 0, "sessions in progress at a time (0 = all interleaved at once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *n < 1 || *rate < 0 || *rate >= 1 {
		return errors.New("lines: need --out, --sessions >= 1 and --anomaly-rate in [0, 1)")
	}
	sessions := demolog.Synthesize(*n, *rate, *seed)
	lines := demolog.InterleaveWindow(sessions, *window, rand.New(rand.NewPCG(*seed, 1)))
	if err := os.WriteFile(*out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("lines: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %d lines from %d sessions\n", *out, len(lines), len(sessions))
	return nil
}
