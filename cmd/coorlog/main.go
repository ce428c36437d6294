// Command coorlog is the offline side of CoorLog: it prepares labelled
// session files, injects software evolution, pretrains the default encoder,
// trains and evaluates detector bundles, and benchmarks CoorLog against
// baselines side by side.
//
//	coorlog sessions  HDFS or BGL data -> train/valid/test JSONL
//	coorlog evolve    JSONL -> an "upgraded version" of it, with a report
//	coorlog pretrain  learn the compact default encoder from a log corpus
//	coorlog train     JSONL -> model bundle
//	coorlog eval      bundle + JSONL -> precision, recall, F1, routes, cost
//	coorlog bench     every method side by side, intra- and inter-version
//	coorlog feedback  operator labels in a bundle: add, list, undo
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"sessions": {"turn the shared HDFS or BGL data, or a labelled JSONL file, into train/valid/test JSONL", runSessions},
		"evolve":   {"write an evolved (upgraded-version) copy of a JSONL session file", runEvolve},
		"pretrain": {"pretrain the compact default encoder on a log corpus", runPretrain},
		"train":    {"train a detector bundle from labelled sessions", runTrain},
		"eval":     {"evaluate a bundle on labelled sessions", runEval},
		"bench":    {"benchmark CoorLog and baselines side by side", runBench},
		"feedback": {"label a session's content normal or anomalous, or suppress it, in a bundle; list or undo feedback", runFeedback},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "coorlog:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: coorlog <command> [flags]   (coorlog <command> -h for its flags)")
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("coorlog "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags, rejecting positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// required returns a usage error naming the first empty required flag.
func required(fs *flag.FlagSet, names ...string) error {
	var missing []string
	for _, n := range names {
		if f := fs.Lookup(n); f == nil || f.Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s: missing %s", errUsage, fs.Name(), strings.Join(missing, ", "))
	}
	return nil
}

func checkRate(name string, v float64) error {
	if v < 0 || v > 1 || v != v {
		return fmt.Errorf("%w: --%s %v must be in [0, 1]", errUsage, name, v)
	}
	return nil
}
