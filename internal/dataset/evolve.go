package dataset

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"unicode"
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

// insertedTemplate marks inserted lines: no rewrite table entry matches it.
const insertedTemplate = "\x00inserted"

// sequenceChange applies one state-preserving change to the session. Inserted
// lines get insertedTemplate so that no entry rewrite touches them.
func sequenceChange(rng *rand.Rand, id string, lines, ts *[]string, optional map[string]bool, adjacent map[[2]string]bool) (string, bool) {
	var drops []string
	for _, t := range *ts {
		if optional[t] && !slices.Contains(drops, t) {
			drops = append(drops, t)
		}
	}
	var swaps []int
	for j := 1; j < len(*ts); j++ {
		a, b := (*ts)[j-1], (*ts)[j]
		if a != b && adjacent[[2]string{a, b}] && adjacent[[2]string{b, a}] {
			swaps = append(swaps, j)
		}
	}
	ops := []string{"insert"}
	if len(drops) > 0 {
		// Keep at least one line: a session is never emptied.
		ops = append(ops, "drop")
	}
	if len(swaps) > 0 {
		ops = append(ops, "swap")
	}
	op := ops[rng.IntN(len(ops))]
	switch op {
	case "drop":
		t := drops[rng.IntN(len(drops))]
		var nl, nt []string
		for j := range *lines {
			if (*ts)[j] != t {
				nl, nt = append(nl, (*lines)[j]), append(nt, (*ts)[j])
			}
		}
		if len(nl) == 0 {
			return "", false
		}
		*lines, *ts = nl, nt
	case "swap":
		j := swaps[rng.IntN(len(swaps))]
		(*lines)[j-1], (*lines)[j] = swapEvents((*lines)[j-1], (*lines)[j])
		(*ts)[j-1], (*ts)[j] = (*ts)[j], (*ts)[j-1]
	case "insert":
		pos := 1 + rng.IntN(len(*lines)) // after at least one line
		ref := (*lines)[pos-1]
		nl := newNormalEvent(rng, ref, id)
		*lines = slices.Insert(*lines, pos, nl)
		*ts = slices.Insert(*ts, pos, insertedTemplate)
	}
	return op, true
}

// swapEvents returns b, a with their leading timestamps exchanged, so that
// the time stays in order: the events swap, the clock does not. The
// timestamp is the leading run of tokens made only of digits and . : / - ,
// (date, time, pid in "081109 203615 148 INFO ..."), exchanged only when
// both lines have the same number of such tokens.
func swapEvents(a, b string) (string, string) {
	pa, ra := clockPrefix(a)
	pb, rb := clockPrefix(b)
	if pa == 0 || pa != pb {
		return b, a
	}
	return a[:ra] + b[rb:], b[:rb] + a[ra:]
}

// clockPrefix counts the leading clock-like tokens of l and returns the
// byte length they cover.
func clockPrefix(l string) (tokens, end int) {
	pos := 0
	for {
		start := pos
		for pos < len(l) && l[pos] != ' ' {
			c := l[pos]
			if (c < '0' || c > '9') && !strings.ContainsRune(".:/-,", rune(c)) {
				return tokens, end
			}
			pos++
		}
		if pos == start {
			return tokens, end
		}
		tokens, end = tokens+1, pos
		for pos < len(l) && l[pos] == ' ' {
			pos++
		}
	}
}

// New normal events an upgrade introduces: routine bookkeeping messages.
var newEventFormats = []string{
	"Checkpoint written for %s in %d ms",
	"Heartbeat acknowledged for %s (interval %d ms)",
	"Metrics snapshot recorded for %s: %d counters",
}

// newNormalEvent builds a routine line in the header layout of ref (same
// timestamp, process and component), about the session's id when the
// session's lines mention it.
func newNormalEvent(rng *rand.Rand, ref, id string) string {
	header, _ := splitHeader(ref)
	subject := id
	if !strings.Contains(ref, id) {
		subject = "this task"
	}
	msg := fmt.Sprintf(newEventFormats[rng.IntN(len(newEventFormats))], subject, 1+rng.IntN(500))
	if header == "" {
		return msg
	}
	return header + " " + msg
}

// rewrite is one template's entry evolution.
type rewrite struct {
	kind          string
	param         int
	seed          uint64
	lines         int
	before, after string
}

var levels = map[string]bool{
	"INFO": true, "WARN": true, "WARNING": true, "ERROR": true, "FATAL": true, "DEBUG": true,
	"TRACE": true, "SEVERE": true, "NOTICE": true, "CRITICAL": true, "ERR": true, "FAILURE": true,
}

// splitHeader splits a line into its header (up to and including the level
// and a following "component:" token) and the message body. A line without a
// level token within its first 10 tokens is all body.
func splitHeader(line string) (header, body string) {
	pos := 0
	for n := 0; n < 10; n++ {
		for pos < len(line) && line[pos] == ' ' {
			pos++
		}
		if pos >= len(line) {
			return "", line
		}
		end := strings.IndexByte(line[pos:], ' ')
		if end < 0 {
			return "", line
		}
		tok := line[pos : pos+end]
		pos += end
		if !levels[tok] {
			continue
		}
		rest := strings.TrimLeft(line[pos:], " ")
		if c, after, ok := strings.Cut(rest, " "); ok && len(c) > 1 && strings.HasSuffix(c, ":") {
			return line[:pos] + " " + c, after
		}
		return line[:pos], rest
	}
	return "", line
}

// component returns the header's "component:" token, if any.
func component(header string) (start int, comp string) {
	i := strings.LastIndexByte(header, ' ')
	c := header[i+1:]
	if len(c) > 1 && strings.HasSuffix(c, ":") && !levels[strings.TrimSuffix(c, ":")] {
		return i + 1, c
	}
	return -1, ""
}

// Added details: each with the ranges of its two values.
var detailFormats = []struct {
	format     string
	maxA, maxB int
}{
	{" with %d pieces (estimated total size %d MiB)", 512, 4096},
	{" (took %d ms, queue %d)", 2000, 64},
	{" in %d ms using %d threads", 500, 16},
	{" [attempt %d, %d bytes buffered]", 1, 65536},
}

var prefixes = []string{"op: ", "[core] ", "event: ", "status: "}

var synonyms = map[string]string{
	"receiving": "accepting", "received": "accepted", "deleting": "removing", "served": "sent",
	"terminating": "exiting", "succeeded": "passed", "verification": "check", "starting": "launching",
	"exception": "error", "corrected": "fixed", "generating": "creating", "failed": "did not succeed",
	"interrupted": "stopped", "transfer": "copy", "updated": "refreshed", "added": "appended",
	"error": "fault", "connection": "link", "closed": "shut", "opened": "open", "registered": "enrolled",
	"finished": "completed", "started": "launched", "stopping": "halting", "sending": "transmitting",
	"request": "call", "allocating": "reserving", "removing": "dropping", "unable": "not able",
	"invalid": "not valid", "timeout": "time limit", "detected": "found", "running": "executing",
}

var connectors = map[string]bool{"from": true, "to": true, "of": true, "on": true, "for": true, "in": true, "at": true, "with": true, "by": true}

// apply rewrites one line; false when the kind does not fit the line.
func (rw *rewrite) apply(line string) (string, bool) {
	header, body := splitHeader(line)
	join := func(h, b string) string {
		if h == "" {
			return b
		}
		return h + " " + b
	}
	switch rw.kind {
	case KindDetail:
		// Values vary per line like real variables, but repeat for the same line.
		h := fnv.New64a()
		h.Write([]byte(line))
		r := rand.New(rand.NewPCG(h.Sum64(), rw.seed))
		d := detailFormats[rw.param%len(detailFormats)]
		return line + fmt.Sprintf(d.format, 1+r.IntN(d.maxA), 1+r.IntN(d.maxB)), true
	case KindComponent:
		i, c := component(header)
		if c == "" {
			return "", false
		}
		name := strings.TrimSuffix(c, ":")
		var nc string
		if k := strings.LastIndexByte(name, '.'); k >= 0 {
			// A class moved to a sub-package, as in a refactoring release.
			sub := []string{"server", "impl", "core"}[rw.param%3]
			nc = name[:k] + "." + sub + name[k:]
		} else {
			nc = name + []string{"Service", "Manager", "Impl"}[rw.param%3]
		}
		return join(header[:i]+nc+":", body), true
	case KindWord:
		words := strings.Split(body, " ")
		n := 0
		for k, w := range words {
			core := strings.TrimRightFunc(w, func(r rune) bool { return unicode.IsPunct(r) })
			syn, ok := synonyms[strings.ToLower(core)]
			if !ok {
				continue
			}
			if r := []rune(core); len(r) > 0 && unicode.IsUpper(r[0]) {
				syn = strings.ToUpper(syn[:1]) + syn[1:]
			}
			words[k] = syn + w[len(core):]
			n++
		}
		if n == 0 {
			return "", false
		}
		return join(header, strings.Join(words, " ")), true
	case KindReorder:
		// Move the last "connector value" clause to the front of the message:
		// "Received block X of size N from /ip" -> "Received from /ip block X of size N".
		words := strings.Split(body, " ")
		for k := len(words) - 2; k >= 2; k-- {
			if connectors[strings.ToLower(words[k])] && len(words)-k <= 4 {
				clause := slices.Clone(words[k:])
				nw := append([]string{words[0]}, clause...)
				nw = append(nw, words[1:k]...)
				return join(header, strings.Join(nw, " ")), true
			}
		}
		return "", false
	case KindFields:
		// "src: /a dest: /b" -> "src=/a dest=/b".
		words := strings.Split(body, " ")
		var nw []string
		changed := false
		for k := 0; k < len(words); k++ {
			w := words[k]
			if k+1 < len(words) && len(w) > 1 && strings.HasSuffix(w, ":") && isWord(w[:len(w)-1]) && words[k+1] != "" {
				nw = append(nw, w[:len(w)-1]+"="+words[k+1])
				k++
				changed = true
				continue
			}
			nw = append(nw, w)
		}
		if !changed {
			return "", false
		}
		return join(header, strings.Join(nw, " ")), true
	case KindPrefix:
		return join(header, prefixes[rw.param%len(prefixes)]+body), true
	}
	return "", false
}

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}
