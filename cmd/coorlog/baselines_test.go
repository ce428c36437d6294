package main

import (
	"context"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
)

func TestBaselines(t *testing.T) {
	syn := dataset.NewHDFSSynth(2)
	normal := []int{5, 5, 5, 22, 11, 9, 11, 9, 11, 9, 26, 26, 26}
	var train []dataset.Session
	for range 20 {
		train = append(train, syn.Session(normal, 0))
	}
	// An anomalous training session: its templates must not count as "seen".
	train = append(train, syn.Session([]int{5, 7, 4}, 1))
	nt := trainNewTemplate(train)
	ng := trainNGram(train, 3, 9)
	ctx := context.Background()
	check := func(name string, d model.Detector, s dataset.Session, want bool) {
		t.Helper()
		v, err := d.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil || v.Anomaly != want {
			t.Errorf("%s on %v: anomaly %v (%s), want %v", name, s.Lines[0][:20], v.Anomaly, v.Reason, want)
		}
	}
	ok := syn.Session(normal, 0)
	exc := syn.Session([]int{5, 5, 5, 22, 7, 11, 9}, 1)
	short := syn.Session([]int{5, 5, 5, 22}, 1) // truncated: the end comes too early
	check("new-template", nt, ok, false)
	check("new-template", nt, exc, true)
	check("new-template", nt, short, false) // no new template: this rule misses it
	check("ngram", ng, ok, false)
	check("ngram", ng, exc, true)
	check("ngram", ng, short, true)
}
