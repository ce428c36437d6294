package dataset

import (
	"strings"
	"testing"
)

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
