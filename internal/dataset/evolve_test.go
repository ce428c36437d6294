package dataset

import (
	"reflect"
	"regexp"
	"testing"
)

// maskDigits is a stand-in templater: tokens with a digit become <*>.
var digitTok = regexp.MustCompile(`\S*\d\S*`)

func maskDigits(l string) string { return digitTok.ReplaceAllString(l, "<*>") }

func hdfsLike(n int, seed uint64) []Session {
	syn := NewHDFSSynth(seed)
	seqs := [][]int{
		{5, 5, 5, 22, 11, 9, 11, 9, 11, 9, 26, 26, 26, 23, 23, 23, 21, 21, 21},
		{22, 5, 5, 5, 11, 9, 11, 9, 11, 9, 26, 26, 26},
		{22, 5, 5, 5, 26, 26, 26, 11, 9, 11, 9, 11, 9, 2, 3, 23, 23, 23, 21, 21, 21},
		{5, 22, 5, 5, 11, 9, 11, 9, 26, 11, 9, 26, 26, 2},
	}
	var out []Session
	for i := 0; i < n; i++ {
		if i%10 == 9 {
			out = append(out, syn.Session([]int{5, 22, 5, 7, 4, 4, 3, 28}, Anomalous))
		} else {
			out = append(out, syn.Session(seqs[i%len(seqs)], Normal))
		}
	}
	return out
}

func TestEvolveDeterministicAndLabelsKept(t *testing.T) {
	in := hdfsLike(200, 1)
	orig := make([]Session, len(in))
	for i, s := range in {
		orig[i] = Session{ID: s.ID, Label: s.Label, Lines: append([]string(nil), s.Lines...)}
	}
	opt := EvolveOptions{EntryRate: 0.5, SeqRate: 0.5, Seed: 9, Template: maskDigits, Version: "v2"}
	a, repA, err := Evolve(in, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, repB, _ := Evolve(in, opt)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(repA, repB) {
		t.Fatal("same seed, different output")
	}
	opt.Seed = 10
	c, _, _ := Evolve(in, opt)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seed, same output")
	}
	if !reflect.DeepEqual(in, orig) {
		t.Fatal("input modified")
	}
	if len(a) != len(in) {
		t.Fatalf("%d sessions out of %d", len(a), len(in))
	}
	changed := 0
	for i := range a {
		if a[i].ID != in[i].ID || a[i].Label != in[i].Label || a[i].Version != "v2" {
			t.Fatalf("session %d: id/label/version not kept: %+v", i, a[i])
		}
		if len(a[i].Lines) == 0 {
			t.Fatalf("session %d emptied", i)
		}
		if a[i].Attributes[EvolutionAttr] != "" {
			changed++
		}
	}
	if changed != repA.SessionsChanged || changed == 0 {
		t.Errorf("%d sessions marked, report says %d", changed, repA.SessionsChanged)
	}
	if repA.Normal+repA.Anomalous != len(in) || repA.Anomalous != 20 {
		t.Errorf("report counts %+v", repA)
	}
	if want := int(0.5*float64(repA.Templates) + 0.5); len(repA.Rewrites) != want {
		t.Errorf("%d rewrites for %d templates at rate 0.5", len(repA.Rewrites), repA.Templates)
	}
	if repA.SessionsSequence < 60 || repA.SessionsSequence > 140 {
		t.Errorf("%d sequence-evolved sessions of 200 at rate 0.5", repA.SessionsSequence)
	}
	if repA.SequenceOps["insert"] == 0 || repA.SequenceOps["drop"] == 0 || repA.SequenceOps["swap"] == 0 {
		t.Errorf("sequence ops %v: want all three kinds", repA.SequenceOps)
	}
}

func TestEvolveErrorsAndGenerality(t *testing.T) {
	if _, _, err := Evolve(nil, EvolveOptions{EntryRate: 0.1}); err == nil {
		t.Error("no templater accepted")
	}
	if _, _, err := Evolve(nil, EvolveOptions{EntryRate: 2, Template: maskDigits}); err == nil {
		t.Error("rate 2 accepted")
	}
	// Lines without a header or level (any JSONL) evolve too.
	in := []Session{
		{ID: "a", Label: 0, Lines: []string{"user 12 logged in from host 7", "session 12 opened"}},
		{ID: "b", Label: 1, Lines: []string{"disk 3 failed", "user 12 logged in from host 7"}},
		{ID: "c", Label: 0, Lines: []string{}},
	}
	out, rep, err := Evolve(in, EvolveOptions{EntryRate: 1, SeqRate: 1, Seed: 1, Template: maskDigits})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LinesRewritten == 0 || out[1].Label != 1 || len(out[2].Lines) != 0 {
		t.Errorf("headerless evolution: %+v %+v", out, rep)
	}
}
