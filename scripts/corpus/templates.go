package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// Template is the template of a raw log line used for the new-template
// report: the project's normaliser (model/normalize, what the cascade's caches
// and encoder see) on a text line; on a JSON line (Caddy's zap logs) the line's
// sorted field structure, with the level, logger, message and error text
// normalised and every other value masked. zap writes map fields such as
// request headers in random map order, so the raw line is not a template.
func Template(line string) string {
	if t, ok := jsonTemplate(line); ok {
		return t
	}
	return normalize.Line(line)
}

var (
	// natsPrefixRe is the per-connection prefix of a NATS client log line:
	// [pid] date time [LVL] ip:port - cid:N - and the context fields that
	// releases add after it ("v1.37.0:go" - "$G/user:bob" - ...).
	natsPrefixRe = regexp.MustCompile(`^\[\d+\] \S+ \S+ \[(\w+)\] \S+ - [a-z]+:\d+ - ((?:"[^"]*" - )*)`)
	quotedRe     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	// Dotted names: NATS subjects and inboxes, logger names are kept apart.
	dottedRe  = regexp.MustCompile(`[A-Za-z_$*>][\w$*>-]*(?:\.[\w$*><-]+)+`)
	payloadRe = regexp.MustCompile(`MSG_PAYLOAD: \[.*\]`)
	// Caddy's random error ids inside an error text: {id=pcssgak}.
	errIDRe = regexp.MustCompile(`(\bid=)[A-Za-z0-9<>]+`)
)

// Event is a coarser template for the report: the event a line records, with
// the per-connection prefix and its context fields cut off and data values
// (quoted strings, subjects, payloads) masked as well; on a JSON line, the
// level, logger, message and error text. Two releases that only add context
// fields to every line share their events; a reworded close reason, a new
// or a removed event does not.
func Event(line string) string {
	t := strings.TrimSpace(line)
	if strings.HasPrefix(t, "{") {
		var v map[string]any
		if json.Unmarshal([]byte(t), &v) == nil {
			var b strings.Builder
			for _, k := range []string{"level", "logger", "msg", "error"} {
				x, ok := v[k].(string)
				if !ok {
					continue
				}
				if k == "msg" || k == "error" {
					x = coarse(normalize.Line(x))
				}
				fmt.Fprintf(&b, "%s=%s ", k, x)
			}
			return strings.TrimSpace(b.String())
		}
	}
	level := ""
	if m := natsPrefixRe.FindStringSubmatchIndex(t); m != nil {
		level = "[" + t[m[2]:m[3]] + "] "
		t = t[m[1]:]
	}
	return level + coarse(normalize.Line(t))
}

func coarse(s string) string {
	s = payloadRe.ReplaceAllString(s, "MSG_PAYLOAD: [<DATA>]")
	s = errIDRe.ReplaceAllString(s, "${1}<ID>")
	// model/normalize masks 12ms as <DUR> but not 12µs.
	s = strings.ReplaceAll(s, "<NUM>µs", "<DUR>")
	s = quotedRe.ReplaceAllString(s, "<STR>")
	s = dottedRe.ReplaceAllString(s, "<NAME>")
	return s
}

// jsonKeep are the JSON fields whose text is part of a template (masked like
// a text line); every other string value is a variable.
var jsonKeep = map[string]bool{"level": true, "logger": true, "msg": true, "message": true, "error": true, "err": true}

// jsonTemplate renders a JSON log line (Caddy, zap) as its sorted field
// structure with the level, logger and message kept: zap writes map fields
// such as headers in random order, and every value is a variable.
func jsonTemplate(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "{") {
		return "", false
	}
	var v any
	if json.Unmarshal([]byte(t), &v) != nil {
		return "", false
	}
	var b strings.Builder
	renderJSON(&b, "", v)
	return b.String(), true
}

func renderJSON(b *strings.Builder, key string, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(k)
			b.WriteByte(':')
			renderJSON(b, k, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		if len(x) > 0 {
			renderJSON(b, key, x[0])
		}
		b.WriteByte(']')
	case string:
		if jsonKeep[key] {
			b.WriteString(normalize.Line(x))
		} else {
			b.WriteString("<STR>")
		}
	case float64:
		b.WriteString("<NUM>")
	case bool:
		fmt.Fprint(b, x)
	case nil:
		b.WriteString("null")
	}
}

// templateSet holds the templates of one sessions.jsonl, under the report's
// Template and under normalize.Line of the whole raw line.
type templateSet struct {
	templates map[string]int // Template -> lines
	norm      map[string]int // normalize.Line -> lines
	events    map[string]int // Event -> lines
	lines     int
	sessions  [][]string // each session's templates, for the session share
}

func readTemplates(path string) (*templateSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ts := &templateSet{templates: map[string]int{}, norm: map[string]int{}, events: map[string]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		var s Session
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		st := make([]string, 0, len(s.Lines))
		for _, l := range s.Lines {
			t := Template(l)
			ts.templates[t]++
			ts.norm[normalize.Line(l)]++
			ts.events[Event(l)]++
			ts.lines++
			st = append(st, t)
		}
		ts.sessions = append(ts.sessions, st)
	}
	return ts, sc.Err()
}

// PairReport is the share of new templates of one upgrade pair.
type PairReport struct {
	Server       string  `json:"server"`
	HeldOut      bool    `json:"held_out"`
	Old          string  `json:"old"`
	New          string  `json:"new"`
	OldDate      string  `json:"old_date"`
	NewDate      string  `json:"new_date"`
	OldTemplates int     `json:"old_templates"`
	NewTemplates int     `json:"new_templates"`
	Unseen       int     `json:"unseen_templates"`
	Share        float64 `json:"new_template_share"`         // unseen / templates of the newer release
	LineShare    float64 `json:"new_template_line_share"`    // lines of the newer release with an unseen template
	SessionShare float64 `json:"sessions_with_new_template"` // sessions of the newer release with one
	Removed      int     `json:"removed_templates"`          // templates of the older release the newer never wrote
	RemovedShare float64 `json:"removed_template_share"`     // removed / templates of the older release
	// The same share with normalize.Line of the whole raw line as the
	// template (what the cascade's caches see; for JSON lines it also counts
	// field-order permutations).
	NormOld   int      `json:"normalize_old_templates"`
	NormNew   int      `json:"normalize_new_templates"`
	NormShare float64  `json:"normalize_new_template_share"`
	Examples  []string `json:"unseen_examples"`
	RemovedEx []string `json:"removed_examples"`
	// Events (see Event): the events of the newer release, the share of
	// them the older never logged, and the share of the older's events the
	// newer no longer logs, with all of each.
	OldEvents      int      `json:"old_events"`
	NewEvents      int      `json:"new_events"`
	EventShare     float64  `json:"new_event_share"`
	EventLineShare float64  `json:"new_event_line_share"`
	RemovedEvents  float64  `json:"removed_event_share"`
	AddedEvents    []string `json:"added_events"`
	DroppedEvents  []string `json:"removed_events"`
}

// Report is report.json.
type Report struct {
	Builds []*Summary    `json:"builds"`
	Pairs  []*PairReport `json:"pairs"`
}

func cmdReport(args []string) error {
	fset := flag.NewFlagSet("report", flag.ExitOnError)
	man := fset.String("manifest", "manifest.json", "the manifest")
	out := fset.String("out", "out/corpus", "output root of the builds")
	fset.Parse(args)
	m, err := loadManifest(*man)
	if err != nil {
		return err
	}
	rep := &Report{}
	fmt.Printf("\n%-6s %-9s %-8s %-11s %8s %9s %7s %10s\n", "server", "held-out", "version", "date", "sessions", "anomalous", "share", "raw lines")
	for _, s := range m.Servers {
		for _, r := range s.Release {
			b, err := os.ReadFile(filepath.Join(*out, s.Name, r.Version, "summary.json"))
			if errors.Is(err, fs.ErrNotExist) {
				fmt.Printf("%-6s %-9v %-8s %-11s (not built)\n", s.Name, s.HeldOut, r.Version, r.Date)
				continue
			} else if err != nil {
				return err
			}
			var sum Summary
			if err := json.Unmarshal(b, &sum); err != nil {
				return err
			}
			rep.Builds = append(rep.Builds, &sum)
			fmt.Printf("%-6s %-9v %-8s %-11s %8d %9d %6.1f%% %10d\n", s.Name, s.HeldOut, r.Version, r.Date, sum.Sessions, sum.Anomalous, 100*sum.AnomalousFrac, sum.RawLines)
		}
	}
	printKinds(m, rep.Builds)
	fmt.Printf("\nnew templates per upgrade pair (templates of the newer release not seen in the older; see README.md)\n")
	fmt.Printf("%-6s %-9s %-17s %-23s %6s %6s %7s %7s %8s %8s %8s | %6s %7s %7s %8s\n", "server", "held-out", "pair", "dates",
		"tmpl", "new", "share", "lines", "sessions", "removed", "norm", "events", "new", "lines", "removed")
	for _, s := range m.Servers {
		date := map[string]string{}
		for _, r := range s.Release {
			date[r.Version] = r.Date
		}
		for _, p := range s.Pairs() {
			oldT, err1 := readTemplates(filepath.Join(*out, s.Name, p.Old, "sessions.jsonl"))
			newT, err2 := readTemplates(filepath.Join(*out, s.Name, p.New, "sessions.jsonl"))
			if err1 != nil || err2 != nil {
				continue
			}
			pr := pairReport(s, p, date, oldT, newT)
			rep.Pairs = append(rep.Pairs, pr)
			fmt.Printf("%-6s %-9v %-17s %-23s %6d %6d %6.1f%% %6.1f%% %7.1f%% %7.1f%% %7.1f%% | %6d %6.1f%% %6.1f%% %7.1f%%\n", s.Name, s.HeldOut, p.Old+"->"+p.New, pr.OldDate+"->"+pr.NewDate,
				pr.NewTemplates, pr.Unseen, 100*pr.Share, 100*pr.LineShare, 100*pr.SessionShare, 100*pr.RemovedShare, 100*pr.NormShare,
				pr.NewEvents, 100*pr.EventShare, 100*pr.EventLineShare, 100*pr.RemovedEvents)
		}
	}
	for _, pr := range rep.Pairs {
		fmt.Printf("\n%s %s -> %s: events added (%d)\n", pr.Server, pr.Old, pr.New, len(pr.AddedEvents))
		for _, e := range pr.AddedEvents[:min(len(pr.AddedEvents), 12)] {
			fmt.Printf("  + %.160s\n", e)
		}
		fmt.Printf("%s %s -> %s: events removed (%d)\n", pr.Server, pr.Old, pr.New, len(pr.DroppedEvents))
		for _, e := range pr.DroppedEvents[:min(len(pr.DroppedEvents), 12)] {
			fmt.Printf("  - %.160s\n", e)
		}
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	path := filepath.Join(*out, "report.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n", path)
	return nil
}

// unseen returns the keys of b that are not in a, sorted by falling count.
func unseen(a, b map[string]int) []string {
	var out []string
	for t := range b {
		if _, ok := a[t]; !ok {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if b[out[i]] != b[out[j]] {
			return b[out[i]] > b[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

func pairReport(s Server, p Pair, date map[string]string, oldT, newT *templateSet) *PairReport {
	pr := &PairReport{Server: s.Name, HeldOut: s.HeldOut, Old: p.Old, New: p.New, OldDate: date[p.Old], NewDate: date[p.New],
		OldTemplates: len(oldT.templates), NewTemplates: len(newT.templates), NormOld: len(oldT.norm), NormNew: len(newT.norm)}
	added := unseen(oldT.templates, newT.templates)
	removed := unseen(newT.templates, oldT.templates)
	pr.Unseen, pr.Removed = len(added), len(removed)
	unseenLines := 0
	for _, t := range added {
		unseenLines += newT.templates[t]
	}
	pr.Examples = added[:min(len(added), 15)]
	pr.RemovedEx = removed[:min(len(removed), 15)]
	withNew := 0
	for _, st := range newT.sessions {
		for _, t := range st {
			if _, ok := oldT.templates[t]; !ok {
				withNew++
				break
			}
		}
	}
	if pr.NewTemplates > 0 {
		pr.Share = float64(pr.Unseen) / float64(pr.NewTemplates)
	}
	if pr.OldTemplates > 0 {
		pr.RemovedShare = float64(pr.Removed) / float64(pr.OldTemplates)
	}
	if newT.lines > 0 {
		pr.LineShare = float64(unseenLines) / float64(newT.lines)
	}
	if len(newT.sessions) > 0 {
		pr.SessionShare = float64(withNew) / float64(len(newT.sessions))
	}
	if pr.NormNew > 0 {
		pr.NormShare = float64(len(unseen(oldT.norm, newT.norm))) / float64(pr.NormNew)
	}
	pr.OldEvents, pr.NewEvents = len(oldT.events), len(newT.events)
	pr.AddedEvents = unseen(oldT.events, newT.events)
	pr.DroppedEvents = unseen(newT.events, oldT.events)
	if pr.NewEvents > 0 {
		pr.EventShare = float64(len(pr.AddedEvents)) / float64(pr.NewEvents)
	}
	if pr.OldEvents > 0 {
		pr.RemovedEvents = float64(len(pr.DroppedEvents)) / float64(pr.OldEvents)
	}
	evLines := 0
	for _, e := range pr.AddedEvents {
		evLines += newT.events[e]
	}
	if newT.lines > 0 {
		pr.EventLineShare = float64(evLines) / float64(newT.lines)
	}
	return pr
}

// printKinds prints the sessions of every kind per build, fault kinds with
// the share of their sessions in which the manifest's marker matched.
func printKinds(m *Manifest, builds []*Summary) {
	for _, s := range m.Servers {
		var bs []*Summary
		for _, b := range builds {
			if b.Server == s.Name {
				bs = append(bs, b)
			}
		}
		if len(bs) == 0 {
			continue
		}
		fmt.Printf("\n%s sessions per kind (-N: sessions left out by the marker check)\n%-22s %5s", s.Name, "kind", "label")
		for _, b := range bs {
			fmt.Printf(" %14s", b.Version)
		}
		fmt.Println()
		kinds := append(append([]Kind{}, s.Normal...), s.Faults...)
		for _, k := range kinds {
			label := 0
			if slices.ContainsFunc(s.Faults, func(f Kind) bool { return f.Name == k.Name }) {
				label = 1
			}
			fmt.Printf("%-22s %5d", k.Name, label)
			for _, b := range bs {
				ks := b.Kinds[k.Name]
				switch {
				case ks == nil:
					fmt.Printf(" %14s", "-")
				case ks.Excluded > 0:
					fmt.Printf(" %14s", fmt.Sprintf("%d (-%d)", ks.Sessions, ks.Excluded))
				default:
					fmt.Printf(" %14d", ks.Sessions)
				}
			}
			fmt.Println()
		}
	}
}
