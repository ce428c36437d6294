package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// Baselines that need no encoder: (e) and (f) learn from the normal sessions
// of the training set only: they model "what the old version looks like",
// the way template alerting and DeepLog are deployed. (g), the TF-IDF kNN
// (tfidf.go), learns from every labelled training session.

// namedDetector is a baseline with its report name.
type namedDetector struct {
	name string
	det  model.Detector
}

// lexicalBaselines trains (e), (f) and (g) on train, in report order (bench
// and eval report the same rows).
func lexicalBaselines(train []dataset.Session) []namedDetector {
	return []namedDetector{
		{"(e) new-template rule", trainNewTemplate(train)},
		{fmt.Sprintf("(f) n-gram h=%d g=%d", ngramHistory, ngramTop), trainNGram(train, ngramHistory, ngramTop)},
		{fmt.Sprintf("(g) TF-IDF kNN k=%d", tfidfK), trainTFIDFKNN(train, tfidfK)},
	}
}

// newTemplate is the common Drain-style alerting rule: a session is anomalous
// if it has a template never seen in training.
type newTemplate struct {
	seen map[string]bool
}

func trainNewTemplate(train []dataset.Session) *newTemplate {
	d := &newTemplate{seen: map[string]bool{}}
	for _, s := range train {
		if s.Label != dataset.Normal {
			continue
		}
		for _, l := range s.Lines {
			d.seen[normalize.Line(l)] = true
		}
	}
	return d
}

func (d *newTemplate) Detect(_ context.Context, s model.Session) (model.Verdict, error) {
	for _, l := range s.Lines {
		if t := normalize.Line(l); !d.seen[t] {
			return model.Verdict{Score: 1, Anomaly: true, Route: "new_template", Reason: "unseen template: " + t}, nil
		}
	}
	return model.Verdict{Route: "new_template"}, nil
}

// nGram is a DeepLog-style next-event model without the LSTM: the history is
// the previous h templates (with start padding), the model the observed next
// templates per history ranked by count, and a session is anomalous if any
// event (or the session's end) is not among the top g candidates of its
// history. On the old version's data this is close to DeepLog (whose LSTM
// also mostly memorises short histories); an unseen template or history is
// anomalous by construction, which is what breaks under evolution.
type nGram struct {
	h, g int
	next map[string][]string // history key -> candidates, most frequent first
}

const (
	ngramStart = "\x00<s>"
	ngramEnd   = "\x00</s>"
)

func trainNGram(train []dataset.Session, h, g int) *nGram {
	counts := map[string]map[string]int{}
	for _, s := range train {
		if s.Label != dataset.Normal {
			continue
		}
		seq := templateSeq(s.Lines)
		for i := range len(seq) + 1 {
			key := historyKey(seq, i, h)
			nxt := ngramEnd
			if i < len(seq) {
				nxt = seq[i]
			}
			if counts[key] == nil {
				counts[key] = map[string]int{}
			}
			counts[key][nxt]++
		}
	}
	m := &nGram{h: h, g: g, next: map[string][]string{}}
	for key, c := range counts {
		cand := make([]string, 0, len(c))
		for t := range c {
			cand = append(cand, t)
		}
		sort.Slice(cand, func(a, b int) bool {
			if c[cand[a]] != c[cand[b]] {
				return c[cand[a]] > c[cand[b]]
			}
			return cand[a] < cand[b]
		})
		if len(cand) > g {
			cand = cand[:g]
		}
		m.next[key] = cand
	}
	return m
}

func templateSeq(lines []string) []string {
	seq := make([]string, len(lines))
	for i, l := range lines {
		seq[i] = normalize.Line(l)
	}
	return seq
}

func historyKey(seq []string, i, h int) string {
	key := ""
	for j := i - h; j < i; j++ {
		t := ngramStart
		if j >= 0 {
			t = seq[j]
		}
		key += t + "\x01"
	}
	return key
}

func (m *nGram) Detect(_ context.Context, s model.Session) (model.Verdict, error) {
	seq := templateSeq(s.Lines)
	for i := range len(seq) + 1 {
		nxt := ngramEnd
		if i < len(seq) {
			nxt = seq[i]
		}
		ok := false
		for _, c := range m.next[historyKey(seq, i, m.h)] {
			if c == nxt {
				ok = true
				break
			}
		}
		if !ok {
			return model.Verdict{Score: 1, Anomaly: true, Route: "ngram", Reason: fmt.Sprintf("event %d not among the top %d next events", i, m.g)}, nil
		}
	}
	return model.Verdict{Route: "ngram"}, nil
}
