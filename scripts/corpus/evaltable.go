package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// evalResult is the part of one `coorlog eval --json` result the table uses.
type evalResult struct {
	Method      string  `json:"method"`
	Sessions    int     `json:"sessions"`
	Precision   float64 `json:"precision"`
	Recall      float64 `json:"recall"`
	F1          float64 `json:"f1"`
	LLMSessions int     `json:"llm_sessions"`
	ByKind      map[string]struct {
		Label    int `json:"label"`
		Sessions int `json:"sessions"`
		Flagged  int `json:"flagged"`
	} `json:"by_kind"`
}

type evalRun struct {
	Result    evalResult   `json:"result"`
	SmallOnly *evalResult  `json:"small_model_alone"`
	Baselines []evalResult `json:"baselines"`
}

// EvalRow is one (server, train release, test set, method) line of the table.
type EvalRow struct {
	Server    string  `json:"server"`
	HeldOut   bool    `json:"held_out"`
	Train     string  `json:"train"`
	Test      string  `json:"test"` // a newer release, or TRAIN-test (intra-version)
	Method    string  `json:"method"`
	Sessions  int     `json:"sessions"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// LLMShare is the share of sessions that cost an LLM request (methods with an LLM).
	LLMShare *float64 `json:"llm_share,omitempty"`
	// MissedFaults lists fault kinds with recall below 0.8 as "kind flagged/sessions".
	MissedFaults []string `json:"missed_faults,omitempty"`
	// FalseAlarms lists normal kinds with any session flagged, as "kind flagged/sessions".
	FalseAlarms []string `json:"false_alarms,omitempty"`
}

// The modes eval.sh runs and the methods each contributes to the table.
var evalModes = []struct{ mode, method string }{
	{"plain", "small model alone"},
	{"plain", "(g) TF-IDF kNN"},
	{"sim", "coorlog + AEM, simulated:0.99"},
	{"content", "coorlog + AEM, simulated-content:0.95"},
}

// cmdEvalTable reads eval.sh's runs (EVAL/runs/SERVER__TRAIN__TEST__MODE.json)
// and writes EVAL/table.json and EVAL/table.txt, the held-out server apart.
func cmdEvalTable(args []string) error {
	fs := flag.NewFlagSet("evaltable", flag.ExitOnError)
	man := fs.String("manifest", "manifest.json", "the manifest")
	dir := fs.String("eval", "out/corpus-eval", "eval.sh's output directory")
	corpus := fs.String("corpus", "", "the corpus evaluated (written into the table's header)")
	splitSeed := fs.String("split-seed", "", "the split seed (written into the table's header)")
	fs.Parse(args)
	m, err := loadManifest(*man)
	if err != nil {
		return err
	}
	var rows []EvalRow
	for _, s := range m.Servers {
		for _, tr := range s.Release {
			tests := []string{tr.Version + "-test"}
			after := false
			for _, r := range s.Release {
				if after {
					tests = append(tests, r.Version)
				}
				after = after || r.Version == tr.Version
			}
			for _, te := range tests {
				for _, em := range evalModes {
					path := filepath.Join(*dir, "runs", fmt.Sprintf("%s__%s__%s__%s.json", s.Name, tr.Version, te, em.mode))
					b, err := os.ReadFile(path)
					if os.IsNotExist(err) {
						continue
					} else if err != nil {
						return err
					}
					var run evalRun
					if err := json.Unmarshal(b, &run); err != nil {
						return fmt.Errorf("%s: %w", path, err)
					}
					var r *evalResult
					switch {
					case em.method == "small model alone":
						r = run.SmallOnly
					case strings.HasPrefix(em.method, "(g)"):
						for i := range run.Baselines {
							if strings.HasPrefix(run.Baselines[i].Method, "(g)") {
								r = &run.Baselines[i]
							}
						}
					default:
						r = &run.Result
					}
					if r == nil {
						continue
					}
					row := EvalRow{Server: s.Name, HeldOut: s.HeldOut, Train: tr.Version, Test: te, Method: em.method,
						Sessions: r.Sessions, Precision: r.Precision, Recall: r.Recall, F1: r.F1}
					if em.mode != "plain" && r.Sessions > 0 {
						share := float64(r.LLMSessions) / float64(r.Sessions)
						row.LLMShare = &share
					}
					kinds := make([]string, 0, len(r.ByKind))
					for k := range r.ByKind {
						kinds = append(kinds, k)
					}
					slices.Sort(kinds)
					for _, k := range kinds {
						c := r.ByKind[k]
						if c.Label == 1 && float64(c.Flagged) < 0.8*float64(c.Sessions) {
							row.MissedFaults = append(row.MissedFaults, fmt.Sprintf("%s %d/%d", k, c.Flagged, c.Sessions))
						}
						if c.Label == 0 && c.Flagged > 0 {
							row.FalseAlarms = append(row.FalseAlarms, fmt.Sprintf("%s %d/%d", k, c.Flagged, c.Sessions))
						}
					}
					rows = append(rows, row)
				}
			}
		}
	}
	if len(rows) == 0 {
		return fmt.Errorf("no runs under %s", filepath.Join(*dir, "runs"))
	}
	doc := map[string]any{"corpus": *corpus, "split_seed": *splitSeed, "rows": rows}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "table.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*dir, "table.txt"))
	if err != nil {
		return err
	}
	w := io.MultiWriter(f, os.Stdout)
	fmt.Fprintf(w, "corpus %s, split seed %s; train on the older release's train part; intra = its test part, upgrade = the whole newer release\n", *corpus, *splitSeed)
	for _, held := range []bool{false, true} {
		title := "tuned systems"
		if held {
			title = "HELD OUT (report only, never tune on it)"
		}
		fmt.Fprintf(w, "\n## %s\n", title)
		fmt.Fprintf(w, "| server | train -> test | method | F1 | P | R | LLM sessions | fault kinds < 0.8 recall | normal kinds flagged |\n")
		fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range rows {
			if r.HeldOut != held {
				continue
			}
			llm := ""
			if r.LLMShare != nil {
				llm = fmt.Sprintf("%.1f%%", 100**r.LLMShare)
			}
			fmt.Fprintf(w, "| %s | %s -> %s | %s | %.3f | %.3f | %.3f | %s | %s | %s |\n", r.Server, r.Train, r.Test, r.Method,
				r.F1, r.Precision, r.Recall, llm, strings.Join(r.MissedFaults, ", "), strings.Join(r.FalseAlarms, ", "))
		}
	}
	return f.Close()
}
