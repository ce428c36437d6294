package otlpsink

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
)

// Session is what the sink saw of one annotated session.
type Session struct {
	ID        string
	Records   int // annotated records of the session
	Summaries int // summary records (emit_summary) for it
	Route     string
	Anomaly   bool
	Evolved   bool
	Score     float64
	Reason    string
	// Mixed is set when records of the session carry different verdicts
	// (a session that was flushed and reopened, for example).
	Mixed bool
	// Late is set when the session's final verdict came in a record of its
	// own (prefix + "late"), after its records went out route pending; the
	// verdict fields are then that record's.
	Late bool
}

// Truth is the label of a session, from the exchange-format JSONL.
type Truth struct {
	Label int    // 0 normal, 1 anomalous
	Kind  string // "normal", "anomalous", "evolved" (from version/attributes)
}

// ReadRecords reads JSON lines written by a Sink.
func ReadRecords(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading records: %w", err)
	}
	return out, nil
}

// ReadTruth reads the labels of an exchange-format JSONL file (id, label, and
// the optional version/attributes; a session whose attributes carry
// "kind" or whose version is not the base one is reported under that kind).
func ReadTruth(path string) (map[string]Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening truth: %w", err)
	}
	defer f.Close()
	out := map[string]Truth{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var s struct {
			ID         string            `json:"id"`
			Label      int               `json:"label"`
			Attributes map[string]string `json:"attributes"`
		}
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		kind := s.Attributes["kind"]
		if kind == "" {
			kind = map[int]string{0: "normal", 1: "anomalous"}[s.Label]
		}
		out[s.ID] = Truth{Label: s.Label, Kind: kind}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// Summarize groups annotated records by the session id attribute
// (prefix + "session.id"). A record without it (a later record of a session
// judged normal: attributes compact or minimal) joins the session that key,
// the collector's session.key.regex, finds in its body (its first group, if
// it has one); without key, or when key finds nothing, it is counted under
// "". The verdict is read from the records that carry a route; the others
// only have to agree on is_anomaly. Summary
// records (prefix + "summary" = true) are counted apart. A late verdict
// (prefix + "late" = true) replaces the provisional one of its session.
func Summarize(recs []Record, prefix string, key *regexp.Regexp) map[string]*Session {
	out := map[string]*Session{}
	for _, r := range recs {
		id, ok := r.Attributes[prefix+"session.id"].(string)
		if !ok && key != nil {
			if m := key.FindStringSubmatch(r.Body); len(m) > 1 && m[1] != "" {
				id = m[1]
			} else if m != nil {
				id = m[0]
			}
		}
		s := out[id]
		route, full := r.Attributes[prefix+"route"].(string)
		anomaly, _ := r.Attributes[prefix+"is_anomaly"].(bool)
		evolved, _ := r.Attributes[prefix+"evolved"].(bool)
		score, _ := r.Attributes[prefix+"score"].(float64)
		reason, _ := r.Attributes[prefix+"reason"].(string)
		late, _ := r.Attributes[prefix+"late"].(bool)
		switch {
		case s == nil:
			s = &Session{ID: id, Route: route, Anomaly: anomaly, Evolved: evolved, Score: score, Reason: reason, Late: late}
			out[id] = s
		case !full: // a later record of a session judged normal (attributes: compact): is_anomaly only
			if s.Anomaly != anomaly && !s.Late {
				s.Mixed = true
			}
		case s.Route == "" && !s.Late: // the session's records so far were compact ones
			s.Route, s.Anomaly, s.Evolved, s.Score, s.Reason = route, anomaly, evolved, score, reason
		case late:
			s.Route, s.Anomaly, s.Evolved, s.Score, s.Reason, s.Late = route, anomaly, evolved, score, reason, true
		case s.Late && route == "pending":
			// a provisional record of a session whose final verdict came first
		case s.Route != route || s.Anomaly != anomaly:
			s.Mixed = true
		}
		if late {
			continue // the verdict's own record, not one of the session's
		}
		if summary, _ := r.Attributes[prefix+"summary"].(bool); summary {
			s.Summaries++
			continue
		}
		s.Records++
	}
	return out
}

// Scores is the confusion matrix of verdicts against labels
// (anomaly = positive class).
type Scores struct {
	TP, FP, TN, FN int
	Unlabelled     int // sessions absent from the truth file
	Missing        int // labelled sessions the sink never saw
}

func (s Scores) Precision() float64 { return ratio(s.TP, s.TP+s.FP) }
func (s Scores) Recall() float64    { return ratio(s.TP, s.TP+s.FN) }
func (s Scores) F1() float64 {
	p, r := s.Precision(), s.Recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Score compares verdicts with labels.
func Score(sessions map[string]*Session, truth map[string]Truth) Scores {
	var sc Scores
	for id, s := range sessions {
		t, ok := truth[id]
		if !ok {
			sc.Unlabelled++
			continue
		}
		switch {
		case s.Anomaly && t.Label == 1:
			sc.TP++
		case s.Anomaly && t.Label == 0:
			sc.FP++
		case !s.Anomaly && t.Label == 0:
			sc.TN++
		default:
			sc.FN++
		}
	}
	for id := range truth {
		if _, ok := sessions[id]; !ok {
			sc.Missing++
		}
	}
	return sc
}

// WriteReport prints one line per session (up to maxRows, anomalies and
// errors first) and the totals.
func WriteReport(w io.Writer, sessions map[string]*Session, truth map[string]Truth, maxRows int) error {
	rows := make([]*Session, 0, len(sessions))
	for _, s := range sessions {
		rows = append(rows, s)
	}
	wrong := func(s *Session) bool {
		t, ok := truth[s.ID]
		return ok && s.Anomaly != (t.Label == 1)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if wrong(a) != wrong(b) {
			return wrong(a)
		}
		if a.Anomaly != b.Anomaly {
			return a.Anomaly
		}
		return a.ID < b.ID
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tRECORDS\tTRUTH\tROUTE\tEVOLVED\tVERDICT\tSCORE\tOK\tREASON")
	for i, s := range rows {
		if maxRows > 0 && i >= maxRows {
			fmt.Fprintf(tw, "... %d more sessions\t\t\t\t\t\t\t\t\n", len(rows)-maxRows)
			break
		}
		truthKind, ok := "?", "?"
		if t, found := truth[s.ID]; found {
			truthKind = t.Kind
			ok = "yes"
			if wrong(s) {
				ok = "NO"
			}
		}
		verdict := "normal"
		if s.Anomaly {
			verdict = "ANOMALY"
		}
		if s.Mixed {
			verdict += "(mixed)"
		}
		reason := s.Reason
		if len(reason) > 60 {
			reason = reason[:57] + "..."
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%v\t%s\t%.3f\t%s\t%s\n",
			s.ID, s.Records, truthKind, s.Route, s.Evolved, verdict, s.Score, ok, reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	routes := map[string]int{}
	kinds := map[string][2]int{} // kind -> {correct, total}
	records, summaries, late := 0, 0, 0
	for _, s := range sessions {
		routes[s.Route]++
		if s.Late {
			late++
		}
		records += s.Records
		summaries += s.Summaries
		if t, ok := truth[s.ID]; ok {
			k := kinds[t.Kind]
			k[1]++
			if !wrong(s) {
				k[0]++
			}
			kinds[t.Kind] = k
		}
	}
	sc := Score(sessions, truth)
	fmt.Fprintf(w, "\n%d annotated records in %d sessions (+%d summary records); routes:", records, len(sessions), summaries)
	for _, r := range sortedKeys(routes) {
		fmt.Fprintf(w, " %s=%d", r, routes[r])
	}
	if late > 0 {
		fmt.Fprintf(w, "; %d final verdicts came late (their records went out pending)", late)
	}
	fmt.Fprintln(w)
	for _, k := range sortedKeys(kinds) {
		fmt.Fprintf(w, "  %-10s %d/%d correct\n", k, kinds[k][0], kinds[k][1])
	}
	fmt.Fprintf(w, "precision %.3f  recall %.3f  F1 %.3f  (TP %d FP %d TN %d FN %d; unlabelled %d, never received %d)\n",
		sc.Precision(), sc.Recall(), sc.F1(), sc.TP, sc.FP, sc.TN, sc.FN, sc.Unlabelled, sc.Missing)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
