package dataset

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func synthetic(nNormal, nAnom int) []Session {
	var out []Session
	for i := 0; i < nNormal+nAnom; i++ {
		l := Normal
		if i%((nNormal+nAnom)/max(nAnom, 1)) == 0 && nAnom > 0 {
			l = Anomalous
			nAnom--
		}
		out = append(out, Session{ID: fmt.Sprint("s", i), Label: l, Lines: []string{"x"}})
	}
	return out
}

func TestSplitStratifiedDeterministic(t *testing.T) {
	in := synthetic(900, 100)
	n0, a0 := Counts(in)
	tr, te, err := Split(in, 0.8, 11)
	if err != nil {
		t.Fatal(err)
	}
	nTr, aTr := Counts(tr)
	nTe, aTe := Counts(te)
	if nTr != int(0.8*float64(n0)+0.5) || aTr != int(0.8*float64(a0)+0.5) || nTr+nTe != n0 || aTr+aTe != a0 {
		t.Fatalf("train %d/%d test %d/%d of %d/%d", nTr, aTr, nTe, aTe, n0, a0)
	}
	tr2, te2, _ := Split(in, 0.8, 11)
	if !reflect.DeepEqual(tr, tr2) || !reflect.DeepEqual(te, te2) {
		t.Fatal("same seed, different split")
	}
	tr3, _, _ := Split(in, 0.8, 12)
	if reflect.DeepEqual(tr, tr3) {
		t.Fatal("different seed, same split")
	}
	// Disjoint, and each part keeps the input order.
	seen := map[string]bool{}
	for _, part := range [][]Session{tr, te} {
		prev := -1
		for _, s := range part {
			if seen[s.ID] {
				t.Fatalf("%s in both parts", s.ID)
			}
			seen[s.ID] = true
			var i int
			fmt.Sscanf(s.ID, "s%d", &i)
			if i < prev {
				t.Fatal("order not kept")
			}
			prev = i
		}
	}
	if _, _, err := Split(in, 1.2, 1); err == nil || !strings.Contains(err.Error(), "fraction") {
		t.Errorf("bad fraction: %v", err)
	}
}

func TestSplitByKind(t *testing.T) {
	// 3 kinds of very different sizes: a label-stratified split can leave a
	// small kind out of one part; a kind-stratified one keeps its share.
	var in []Session
	for i := 0; i < 200; i++ {
		kind, label := "normal", Normal
		switch {
		case i%40 == 3:
			kind, label = "rare_fault", Anomalous
		case i%10 == 5:
			kind, label = "common_fault", Anomalous
		}
		in = append(in, Session{ID: fmt.Sprint("s", i), Label: label, Lines: []string{"x"}, Attributes: map[string]string{KindAttr: kind}})
	}
	count := func(ss []Session) map[string]int {
		m := map[string]int{}
		for _, s := range ss {
			m[s.Attributes[KindAttr]]++
		}
		return m
	}
	all := count(in)
	tr, te, err := SplitBy(in, 0.8, 5, KindOrLabel)
	if err != nil {
		t.Fatal(err)
	}
	ctr, cte := count(tr), count(te)
	for k, n := range all {
		want := int(0.8*float64(n) + 0.5)
		if ctr[k] != want || ctr[k]+cte[k] != n {
			t.Errorf("kind %s: train %d test %d of %d, want train %d", k, ctr[k], cte[k], n, want)
		}
	}
	tr2, te2, _ := SplitBy(in, 0.8, 5, KindOrLabel)
	if !reflect.DeepEqual(tr, tr2) || !reflect.DeepEqual(te, te2) {
		t.Fatal("same seed, different split")
	}
	if tr3, _, _ := SplitBy(in, 0.8, 6, KindOrLabel); reflect.DeepEqual(tr, tr3) {
		t.Fatal("different seed, same split")
	}
	if KindOrLabel(Session{Label: Anomalous}) != "1/" || KindOrLabel(in[3]) != "1/rare_fault" {
		t.Errorf("keys %q %q", KindOrLabel(Session{Label: Anomalous}), KindOrLabel(in[3]))
	}
	if _, _, err := SplitBy(in, -0.1, 1, KindOrLabel); err == nil {
		t.Error("bad fraction accepted")
	}
}

func TestBGLWindows(t *testing.T) {
	in := strings.Join([]string{
		"- 1 2005.06.03 R02 RAS KERNEL INFO instruction cache parity error corrected",
		"- 2 2005.06.03 R02 RAS KERNEL INFO a",
		"KERNDTLB 3 2005.06.03 R02 RAS KERNEL FATAL data TLB error interrupt",
		"",
		"- 4 2005.06.03 R02 RAS KERNEL INFO b",
		"- 5 2005.06.03 R02 RAS KERNEL INFO c",
	}, "\n")
	got, err := BGLWindows(strings.NewReader(in), 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d windows, want 3: %+v", len(got), got)
	}
	if got[0].Label != Normal || got[1].Label != Anomalous || got[2].Label != Normal {
		t.Errorf("labels %d %d %d", got[0].Label, got[1].Label, got[2].Label)
	}
	for _, w := range got {
		for _, l := range w.Lines {
			if strings.HasPrefix(l, "-") || strings.HasPrefix(l, "KERN") {
				t.Errorf("label field not stripped: %q", l)
			}
		}
	}
	if got[1].Lines[0] != "3 2005.06.03 R02 RAS KERNEL FATAL data TLB error interrupt" || got[2].ID != "bgl-w00006" {
		t.Errorf("window 2: %+v, window 3 id %s", got[1], got[2].ID)
	}
	if _, err := BGLWindows(strings.NewReader("x"), 0, 1); err == nil {
		t.Error("window 0 accepted")
	}
	if _, err := BGLWindows(strings.NewReader("nolabel\n"), 10, 10); err == nil {
		t.Error("line without label field accepted")
	}
}

func TestBGLSharedData(t *testing.T) {
	ws, err := BGLWindowsFile(sharedData(t)+"/loghub/BGL_2k.log", DefaultBGLWindow, DefaultBGLStep)
	if err != nil {
		t.Fatal(err)
	}
	n, a := Counts(ws)
	if len(ws) != 200 || a == 0 || n == 0 {
		t.Fatalf("%d windows, %d normal, %d anomalous", len(ws), n, a)
	}
}
