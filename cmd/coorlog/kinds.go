package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
)

// kindStats is how one method did on the sessions of one kind (the exchange
// format's attributes.kind): Flagged/Sessions is the recall of a fault kind
// and the false-positive rate of a normal one.
type kindStats struct {
	Label    int       `json:"label"` // of the kind's first session
	Sessions int       `json:"sessions"`
	Flagged  int       `json:"flagged"`
	Rate     jsonFloat `json:"flagged_share"`
}

// addKind counts one verdict under the session's kind; sessions without a
// kind are not counted.
func (r *runStats) addKind(s dataset.Session, anomaly bool) {
	kind := s.Attributes[dataset.KindAttr]
	if kind == "" {
		return
	}
	if r.ByKind == nil {
		r.ByKind = map[string]*kindStats{}
	}
	k := r.ByKind[kind]
	if k == nil {
		k = &kindStats{Label: s.Label}
		r.ByKind[kind] = k
	}
	k.Sessions++
	if anomaly {
		k.Flagged++
	}
	k.Rate = jsonFloat(ratio(k.Flagged, k.Sessions))
}

// printKinds writes one row per kind (fault kinds first) and one column per
// method: flagged/sessions, i.e. the recall of a fault kind and the
// false-positive count of a normal kind. Nothing when no run has kinds.
func printKinds(w io.Writer, title string, runs []runStats) {
	kinds := map[string]int{}
	for _, r := range runs {
		for k, s := range r.ByKind {
			kinds[k] = s.Label
		}
	}
	if len(kinds) == 0 {
		return
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Slice(names, func(a, b int) bool {
		if kinds[names[a]] != kinds[names[b]] {
			return kinds[names[a]] > kinds[names[b]]
		}
		return names[a] < names[b]
	})
	fmt.Fprintf(w, "\n%s: flagged/sessions per kind (recall of a fault kind; false positives of a normal one)\n%-22s %5s", title, "kind", "label")
	for _, r := range runs {
		fmt.Fprintf(w, " %*s", max(len(r.Method), 9), r.Method)
	}
	fmt.Fprintln(w)
	for _, k := range names {
		fmt.Fprintf(w, "%-22s %5d", k, kinds[k])
		for _, r := range runs {
			cell := "-"
			if s := r.ByKind[k]; s != nil {
				cell = fmt.Sprintf("%d/%d", s.Flagged, s.Sessions)
			}
			fmt.Fprintf(w, " %*s", max(len(r.Method), 9), cell)
		}
		fmt.Fprintln(w)
	}
}
