package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// Default evolution rates: about a third of the templates reworded and one
// session in five with a changed event sequence, a sizeable but not total
// upgrade.
const (
	defaultEntryRate = 0.3
	defaultSeqRate   = 0.2
)

func runEvolve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("evolve", stderr)
	in := fs.String("in", "", "input JSONL session file (required)")
	out := fs.String("out", "", "output JSONL session file (required)")
	entry := fs.Float64("entry-rate", defaultEntryRate, "share of templates rewritten (entry evolution)")
	seq := fs.Float64("seq-rate", defaultSeqRate, "share of sessions with one sequence change (sequence evolution)")
	seed := fs.Uint64("seed", 1, "seed of every choice the injector makes")
	version := fs.String("version", "evolved", "version tag written on every output session")
	report := fs.String("report", "", "write the JSON report of what changed to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "in", "out"); err != nil {
		return err
	}
	if err := checkRate("entry-rate", *entry); err != nil {
		return err
	}
	if err := checkRate("seq-rate", *seq); err != nil {
		return err
	}
	sessions, err := dataset.ReadFile(*in)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	evolved, rep, err := dataset.Evolve(sessions, dataset.EvolveOptions{
		EntryRate: *entry, SeqRate: *seq, Seed: *seed, Template: normalize.Line, Version: *version,
	})
	if err != nil {
		return err
	}
	if err := dataset.WriteFile(*out, evolved); err != nil {
		return err
	}
	if *report != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding report: %w", err)
		}
		if err := os.WriteFile(*report, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	printEvolveReport(stdout, *out, rep)
	return nil
}

func printEvolveReport(w io.Writer, out string, r dataset.EvolveReport) {
	fmt.Fprintf(w, "wrote %s: %d sessions (%d normal, %d anomalous; labels kept)\n", out, r.Sessions, r.Normal, r.Anomalous)
	fmt.Fprintf(w, "entry evolution: %d of %d templates rewritten (rate %.2f), %d of %d lines, %d sessions\n",
		len(r.Rewrites), r.Templates, r.EntryRate, r.LinesRewritten, r.Lines, r.SessionsEntry)
	ops := make([]string, 0, len(r.SequenceOps))
	for k := range r.SequenceOps {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	fmt.Fprintf(w, "sequence evolution: %d sessions (rate %.2f):", r.SessionsSequence, r.SeqRate)
	for _, k := range ops {
		fmt.Fprintf(w, " %s %d", k, r.SequenceOps[k])
	}
	fmt.Fprintf(w, " (%d optional templates, %d independent pairs)\n", r.OptionalTemplates, r.IndependentPairs)
	fmt.Fprintf(w, "sessions changed: %d of %d (seed %d)\n", r.SessionsChanged, r.Sessions, r.Seed)
	for _, rw := range r.Rewrites {
		fmt.Fprintf(w, "  %-18s %5d lines  %s\n  %18s %5s   -> %s\n", rw.Kind, rw.Lines, rw.Before, "", "", rw.After)
	}
}
