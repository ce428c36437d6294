package main

import (
	"context"
	"fmt"
	"io"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// The evolution-strength sweep of `coorlog bench` (--evolve-sweep): the same model
// on the test set evolved at several strengths.

// sweepPoint is the inter-version result at one evolution strength.
type sweepPoint struct {
	EntryRate       float64  `json:"entry_rate"`
	SeqRate         float64  `json:"seq_rate"`
	SessionsChanged int      `json:"sessions_changed"`
	SmallAlone      runStats `json:"small_model_alone"`
	CoorLogAEM      runStats `json:"coorlog_aem"`
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
