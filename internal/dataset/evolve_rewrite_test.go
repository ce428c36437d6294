package dataset

import (
	"strings"
	"testing"
)

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
