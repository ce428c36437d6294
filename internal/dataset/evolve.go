package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// Evolution injection: an "upgraded version" of a session file, in the two
// kinds of change CoorLog is about.
//
//   - Entry evolution: a share of the templates is rewritten the way an
//     upgrade rewrites messages while keeping their meaning (added details,
//     renamed components or words, reordered fields, changed field style,
//     changed prefixes). Each chosen template gets one rewrite, applied to
//     every line of it, like a real release does; variable values are kept.
//   - Sequence evolution: a share of the sessions gets one change of its
//     event sequence that keeps its state: a new normal event inserted, an
//     optional event dropped (one that normal sessions are seen without), or
//     two adjacent independent events swapped (both orders seen in normal
//     sessions).
//
// Templates come from the caller's Templater (the CLI passes model/normalize),
// so the injector works on any JSONL file, not only HDFS. Labels are never
// changed. The output depends only on the input, the options and the seed.

// Templater maps a raw line to its template (variable parts masked).
type Templater func(line string) string

// EvolveOptions controls Evolve.
type EvolveOptions struct {
	EntryRate float64 // share of distinct templates rewritten, [0,1]
	SeqRate   float64 // share of sessions with one sequence change, [0,1]
	Seed      uint64
	Template  Templater // required
	Version   string    // version tag of the output ("" keeps the input's)
}

// Attribute set on each changed session: which kinds of evolution it got.
const EvolutionAttr = "coorlog.evolution"

// Rewrite kinds.
const (
	KindDetail    = "added-detail"
	KindComponent = "renamed-component"
	KindWord      = "renamed-words"
	KindReorder   = "reordered-fields"
	KindFields    = "field-style"
	KindPrefix    = "changed-prefix"
)

var rewriteKinds = []string{KindDetail, KindComponent, KindWord, KindReorder, KindFields, KindPrefix}

// TemplateRewrite is one row of the injector's rewrite table.
type TemplateRewrite struct {
	Template string `json:"template"`
	Kind     string `json:"kind"`
	Lines    int    `json:"lines"`
	Before   string `json:"example_before"`
	After    string `json:"example_after"`
}

// EvolveReport says what Evolve changed.
type EvolveReport struct {
	Seed              uint64            `json:"seed"`
	EntryRate         float64           `json:"entry_rate"`
	SeqRate           float64           `json:"seq_rate"`
	Sessions          int               `json:"sessions"`
	Normal            int               `json:"normal"`
	Anomalous         int               `json:"anomalous"`
	Templates         int               `json:"templates"`
	Lines             int               `json:"lines_in"`
	LinesRewritten    int               `json:"lines_rewritten"`
	SessionsEntry     int               `json:"sessions_entry_evolved"`
	SessionsSequence  int               `json:"sessions_sequence_evolved"`
	SessionsChanged   int               `json:"sessions_changed"`
	SequenceOps       map[string]int    `json:"sequence_ops"`
	OptionalTemplates int               `json:"optional_templates"`
	IndependentPairs  int               `json:"independent_pairs"`
	NewEvents         []string          `json:"new_event_examples"`
	Rewrites          []TemplateRewrite `json:"rewrites"`
}

// Evolve returns the evolved copy of sessions (the input is not modified)
// and a report.
func Evolve(sessions []Session, opt EvolveOptions) ([]Session, EvolveReport, error) {
	rep := EvolveReport{Seed: opt.Seed, EntryRate: opt.EntryRate, SeqRate: opt.SeqRate, SequenceOps: map[string]int{}}
	if opt.Template == nil {
		return nil, rep, fmt.Errorf("evolve: no templater")
	}
	for name, r := range map[string]float64{"entry rate": opt.EntryRate, "sequence rate": opt.SeqRate} {
		if r < 0 || r > 1 || math.IsNaN(r) {
			return nil, rep, fmt.Errorf("evolve: %s %v must be in [0, 1]", name, r)
		}
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x45564f4c56450001))

	// Pass 1: templates of every line, and the statistics of normal sessions
	// that decide which sequence changes keep a session's state.
	tmpl := make([][]string, len(sessions))
	set := map[string]bool{}
	support := map[string]int{} // normal sessions containing the template
	adjacent := map[[2]string]bool{}
	nNormal := 0
	for i, s := range sessions {
		tmpl[i] = make([]string, len(s.Lines))
		seen := map[string]bool{}
		for j, l := range s.Lines {
			t := opt.Template(l)
			tmpl[i][j] = t
			set[t] = true
			seen[t] = true
			if s.Label == Normal && j > 0 && tmpl[i][j-1] != t {
				adjacent[[2]string{tmpl[i][j-1], t}] = true
			}
		}
		rep.Lines += len(s.Lines)
		if s.Label == Normal {
			nNormal++
			for t := range seen {
				support[t]++
			}
		} else {
			rep.Anomalous++
		}
	}
	rep.Sessions, rep.Normal = len(sessions), nNormal
	templates := make([]string, 0, len(set))
	for t := range set {
		templates = append(templates, t)
	}
	sort.Strings(templates)
	rep.Templates = len(templates)

	// Optional: seen in at least 1% of normal sessions (a real normal event,
	// not a rare one) and missing from at least 10% of them.
	optional := map[string]bool{}
	for t, n := range support {
		if share := float64(n) / float64(nNormal); share >= 0.01 && share <= 0.9 {
			optional[t] = true
		}
	}
	rep.OptionalTemplates = len(optional)
	for p := range adjacent {
		if adjacent[[2]string{p[1], p[0]}] && p[0] < p[1] {
			rep.IndependentPairs++
		}
	}

	// The rewrite table: a seeded choice of templates, each with one kind
	// (the first applicable one from a seeded start) and fixed parameters.
	order := rng.Perm(len(templates))
	nRewrite := int(math.Round(opt.EntryRate * float64(len(templates))))
	table := map[string]*rewrite{}
	example := map[string]string{}
	for i, s := range sessions {
		for j, l := range s.Lines {
			if _, ok := example[tmpl[i][j]]; !ok {
				example[tmpl[i][j]] = l
			}
		}
	}
	for _, k := range order[:nRewrite] {
		t := templates[k]
		rw := &rewrite{param: rng.IntN(1 << 16), seed: opt.Seed}
		start := rng.IntN(len(rewriteKinds))
		for n := range rewriteKinds {
			rw.kind = rewriteKinds[(start+n)%len(rewriteKinds)]
			if _, ok := rw.apply(example[t]); ok {
				table[t] = rw
				break
			}
		}
	}

	newEvents := map[string]bool{}
	out := make([]Session, len(sessions))
	for i, s := range sessions {
		lines := slices.Clone(s.Lines)
		ts := slices.Clone(tmpl[i])
		var kinds []string

		// Sequence evolution first, on the old wording, so that the entry
		// rewrite then applies to the whole session as in a new release.
		if len(lines) > 0 && rng.Float64() < opt.SeqRate {
			if op, ok := sequenceChange(rng, s.ID, &lines, &ts, optional, adjacent); ok {
				rep.SequenceOps[op]++
				rep.SessionsSequence++
				kinds = append(kinds, "sequence")
				if op == "insert" {
					for j, t := range ts {
						if t == insertedTemplate && len(newEvents) < 8 {
							newEvents[lines[j]] = true
						}
					}
				}
			}
		}
		changed := 0
		for j, l := range lines {
			rw := table[ts[j]]
			if rw == nil {
				continue
			}
			if nl, ok := rw.apply(l); ok {
				lines[j] = nl
				changed++
				rw.lines++
				if rw.after == "" {
					rw.before, rw.after = l, nl
				}
			}
		}
		if changed > 0 {
			rep.LinesRewritten += changed
			rep.SessionsEntry++
			kinds = append([]string{"entry"}, kinds...)
		}
		ns := Session{ID: s.ID, Label: s.Label, Lines: lines, Version: s.Version, Attributes: s.Attributes}
		if opt.Version != "" {
			ns.Version = opt.Version
		}
		if len(kinds) > 0 {
			rep.SessionsChanged++
			ns.Attributes = make(map[string]string, len(s.Attributes)+1)
			for k, v := range s.Attributes {
				ns.Attributes[k] = v
			}
			ns.Attributes[EvolutionAttr] = strings.Join(kinds, "+")
		}
		out[i] = ns
	}
	for t, rw := range table {
		rep.Rewrites = append(rep.Rewrites, TemplateRewrite{Template: t, Kind: rw.kind, Lines: rw.lines, Before: rw.before, After: rw.after})
	}
	sort.Slice(rep.Rewrites, func(a, b int) bool { return rep.Rewrites[a].Template < rep.Rewrites[b].Template })
	for e := range newEvents {
		rep.NewEvents = append(rep.NewEvents, e)
	}
	sort.Strings(rep.NewEvents)
	return out, rep, nil
}
