package dataset

import (
	"reflect"
	"regexp"
	"strings"
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

func TestEvolveRewritesAreConsistentPerTemplate(t *testing.T) {
	in := hdfsLike(100, 2)
	out, rep, err := Evolve(in, EvolveOptions{EntryRate: 1, SeqRate: 0, Seed: 3, Template: maskDigits})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SessionsSequence != 0 || rep.LinesRewritten != rep.Lines {
		t.Fatalf("entry rate 1, seq rate 0: %d of %d lines rewritten, %d sequence changes", rep.LinesRewritten, rep.Lines, rep.SessionsSequence)
	}
	// One template in, one template out: the rewrite is a function of the
	// template, and it changes the template.
	mapped := map[string]string{}
	for i := range in {
		if len(in[i].Lines) != len(out[i].Lines) {
			t.Fatalf("session %d changed length without sequence evolution", i)
		}
		for j := range in[i].Lines {
			from, to := maskDigits(in[i].Lines[j]), maskDigits(out[i].Lines[j])
			if from == to {
				t.Errorf("line not re-templated: %q", out[i].Lines[j])
			}
			if prev, ok := mapped[from]; ok && prev != to {
				t.Errorf("template %q rewritten two ways: %q and %q", from, prev, to)
			}
			mapped[from] = to
			// Variable values survive the rewrite.
			if !strings.Contains(out[i].Lines[j], in[i].ID) {
				t.Errorf("block id lost: %q -> %q", in[i].Lines[j], out[i].Lines[j])
			}
		}
	}
	kinds := map[string]bool{}
	for _, r := range rep.Rewrites {
		kinds[r.Kind] = true
		if r.Before == "" || r.After == "" || r.Lines == 0 {
			t.Errorf("rewrite row without example: %+v", r)
		}
	}
	if len(kinds) < 4 {
		t.Errorf("only %d rewrite kinds used: %v", len(kinds), kinds)
	}
}

func TestEvolveSequenceKeepsState(t *testing.T) {
	in := hdfsLike(300, 4)
	out, rep, err := Evolve(in, EvolveOptions{EntryRate: 0, SeqRate: 1, Seed: 5, Template: maskDigits})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LinesRewritten != 0 {
		t.Fatalf("entry rate 0 rewrote %d lines", rep.LinesRewritten)
	}
	normalTemplates := map[string]bool{}
	for _, s := range in {
		for _, l := range s.Lines {
			normalTemplates[maskDigits(l)] = true
		}
	}
	for i := range in {
		// The clock never runs backwards: swapped events exchange timestamps.
		for j := 1; j < len(out[i].Lines); j++ {
			if out[i].Lines[j][:13] < out[i].Lines[j-1][:13] {
				t.Errorf("session %d: time goes back at line %d: %q after %q", i, j, out[i].Lines[j], out[i].Lines[j-1])
			}
		}
		d := len(out[i].Lines) - len(in[i].Lines)
		switch {
		case d == 1: // insert: one new routine line in the session's header layout
			var added []string
			for _, l := range out[i].Lines {
				if !normalTemplates[maskDigits(l)] {
					added = append(added, l)
				}
			}
			if len(added) != 1 || !hdfsLine.MatchString(added[0]) {
				t.Errorf("insert added %q", added)
			}
		case d < 0: // drop: only lines of one optional template go
			gone := map[string]bool{}
			k := 0
			for _, l := range in[i].Lines {
				if k < len(out[i].Lines) && out[i].Lines[k] == l {
					k++
					continue
				}
				gone[maskDigits(l)] = true
			}
			if len(gone) != 1 || k != len(out[i].Lines) {
				t.Errorf("drop removed templates %v", gone)
			}
			for tm := range gone {
				if strings.Contains(tm, "Receiving block") || strings.Contains(tm, "allocateBlock") {
					t.Errorf("dropped an event every normal session has: %q", tm)
				}
			}
		case d == 0: // swap of two adjacent lines
			diff := 0
			for j := range in[i].Lines {
				if in[i].Lines[j] != out[i].Lines[j] {
					diff++
				}
			}
			if diff != 2 {
				t.Errorf("swap changed %d lines", diff)
			}
		}
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

func TestSwapEvents(t *testing.T) {
	a := "081109 203615 148 INFO dfs.A: first"
	b := "081109 203617 22 INFO dfs.B: second"
	x, y := swapEvents(a, b)
	if x != "081109 203615 148 INFO dfs.B: second" || y != "081109 203617 22 INFO dfs.A: first" {
		t.Errorf("got %q, %q", x, y)
	}
	// No common clock layout: plain swap.
	x, y = swapEvents("user logged in", "081109 x")
	if x != "081109 x" || y != "user logged in" {
		t.Errorf("got %q, %q", x, y)
	}
}

func TestSplitHeader(t *testing.T) {
	cases := []struct{ in, h, b string }{
		{"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating", "081109 203615 148 INFO dfs.DataNode$PacketResponder:", "PacketResponder 1 terminating"},
		{"1117838570 2005.06.03 R02 RAS KERNEL INFO instruction cache parity error corrected", "1117838570 2005.06.03 R02 RAS KERNEL INFO", "instruction cache parity error corrected"},
		{"no level here", "", "no level here"},
		{"INFO", "", "INFO"},
	}
	for _, c := range cases {
		h, b := splitHeader(c.in)
		if h != c.h || b != c.b {
			t.Errorf("splitHeader(%q) = %q, %q", c.in, h, b)
		}
	}
}
