package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
)

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"evolve", "--in", "x"}, "missing --out"},
		{[]string{"evolve", "--in", "x", "--out", "y", "--entry-rate", "1.5"}, "--entry-rate 1.5"},
		{[]string{"evolve", "--in", "x", "--out", "y", "--seq-rate", "-0.1"}, "--seq-rate -0.1"},
		{[]string{"evolve", "--bogus"}, "flag provided but not defined"},
		{[]string{"evolve", "--in", "x", "--out", "y", "extra"}, `unexpected argument "extra"`},
		{[]string{"sessions"}, "missing --out"},
		{[]string{"sessions", "--out", "d", "--source", "spark"}, `--source "spark"`},
		{[]string{"sessions", "--out", "d", "--anomaly-rate", "1"}, "--anomaly-rate 1"},
		{[]string{"sessions", "--out", "d", "--test-frac", "2"}, "--test-frac 2"},
		{[]string{"sessions", "--out", "d", "--source", "jsonl"}, "needs --in"},
		{[]string{"sessions", "--out", "d", "--in", "x.jsonl"}, "--in goes with --source jsonl"},
		{[]string{"sessions", "--out", "d", "--source", "jsonl", "--in", "x", "--stratify", "user"}, `--stratify "user"`},
		{[]string{"train", "--out", "d"}, "missing --train"},
		{[]string{"train", "--out", "d", "--train", "t", "--quantile", "1"}, "--quantile 1"},
		{[]string{"train", "--out", "d", "--train", "t", "--quantile", "-0.5"}, "--quantile -0.5"},
		{[]string{"eval", "--test", "t"}, "missing --model"},
		{[]string{"eval", "--model", "m", "--test", "t", "--llm", "simulated:2"}, "accuracy"},
		{[]string{"eval", "--model", "m", "--test", "t", "--llm", "magic"}, "--llm"},
		{[]string{"eval", "--model", "m", "--test", "t", "--llm", "simulated-content:1.5"}, "accuracy"},
		{[]string{"eval", "--model", "m", "--test", "t", "--llm", "simulated-content:"}, "accuracy"},
		{[]string{"eval", "--model", "m", "--test", "t", "--llm", "simulated:0.9", "--llm-endpoint", "http://x"}, "not both"},
		{[]string{"eval", "--model", "m", "--test", "t", "--llm-endpoint", "http://x"}, "--llm-model"},
		{[]string{"eval", "--model", "m", "--test", "t", "--llm-model", "gpt"}, "--llm-endpoint"},
		{[]string{"eval", "--model", "m", "--test", "t", "--aem-batch", "0"}, "--aem-batch"},
		{[]string{"eval", "--learn", "l"}, "missing --test"},
		{[]string{"eval", "--learn", "l", "--test", "t", "--screen", "maybe"}, "--screen"},
		{[]string{"eval", "--learn", "l", "--test", "t", "--review-budget", "0"}, "--review-budget"},
		{[]string{"eval", "--learn", "l", "--test", "t", "--review-budget", "1.5"}, "--review-budget"},
		{[]string{"feedback", "--list"}, "missing --model"},
		{[]string{"feedback", "--model", "m"}, "exactly one of"},
		{[]string{"feedback", "--model", "m", "--list", "--undo", "fb-1"}, "exactly one of"},
		{[]string{"feedback", "--model", "m", "--label", "fine", "--lines", "x"}, "--label must be"},
		{[]string{"feedback", "--model", "m", "--label", "normal"}, "--lines FILE or --sessions"},
		{[]string{"feedback", "--model", "m", "--label", "normal", "--sessions", "s.jsonl"}, "--sessions needs --session"},
		{[]string{"feedback", "--model", "m", "--label", "normal", "--lines", "x", "--session", "b"}, "--session goes with --sessions"},
		{[]string{"bench", "--sets", "spark"}, `unknown set "spark"`},
		{[]string{"bench", "--entry-rate", "2"}, "--entry-rate 2"},
		{[]string{"bench", "--scale-sizes", "10,x"}, "--scale-sizes"},
		{[]string{"bench", "--evolve-sweep", "0.1"}, "--evolve-sweep"},
		{[]string{"bench", "--extra-seeds", "-1"}, "--extra-seeds"},
		{[]string{"bench", "--llm", "simulated:1.5"}, "accuracy"},
		{[]string{"bench", "--content-acc", "1.5"}, "--content-acc"},
		{[]string{"pretrain"}, "missing --out"},
	}
	for _, c := range cases {
		_, _, err := runCLI(t, c.args...)
		if err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want a usage error containing %q", c.args, err, c.want)
		}
	}
	// -h is not an error.
	if _, stderr, err := runCLI(t, "evolve", "-h"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "-entry-rate") {
		t.Errorf("evolve -h: %v, %q", err, stderr)
	}
}

func TestEvolveCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	syn := dataset.NewHDFSSynth(1)
	var ss []dataset.Session
	for i := range 40 {
		seq := []int{5, 5, 5, 22, 11, 9, 11, 9, 11, 9, 26, 26, 26, 23, 23, 23, 21, 21, 21}
		if i%4 == 1 {
			seq = []int{22, 5, 5, 5, 11, 9, 11, 9, 11, 9, 26, 26, 26, 2}
		}
		l := 0
		if i%10 == 9 {
			seq, l = []int{5, 22, 5, 7, 4}, 1
		}
		ss = append(ss, syn.Session(seq, l))
	}
	if err := dataset.WriteFile(in, ss); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")
	rep := filepath.Join(dir, "rep.json")
	args := []string{"evolve", "--in", in, "--out", out, "--entry-rate", "0.5", "--seq-rate", "0.5", "--seed", "3", "--report", rep}
	stdout, _, err := runCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "labels kept") || !strings.Contains(stdout, "entry evolution") {
		t.Errorf("summary: %s", stdout)
	}
	first, _ := os.ReadFile(out)
	if _, _, err := runCLI(t, args...); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(out)
	if !bytes.Equal(first, second) {
		t.Error("evolve is not deterministic")
	}
	got, err := dataset.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i].Label != ss[i].Label || got[i].ID != ss[i].ID {
			t.Fatalf("session %d: label or id changed", i)
		}
	}
	if b, err := os.ReadFile(rep); err != nil || !strings.Contains(string(b), `"rewrites"`) {
		t.Errorf("report: %v %s", err, b)
	}
	if _, _, err := runCLI(t, "evolve", "--in", filepath.Join(dir, "missing.jsonl"), "--out", out); err == nil || errors.Is(err, errUsage) {
		t.Errorf("missing input: %v", err)
	}
}

// TestSessionsJSONL splits a labelled file (a corpus release) by kind: every
// kind keeps its share in each part, the parts are disjoint and complete, and
// the same seed writes the same files.
func TestSessionsJSONL(t *testing.T) {
	dir := t.TempDir()
	var in []dataset.Session
	kinds := []string{"pubsub", "pubsub", "pubsub", "pubsub", "drain", "auth_timeout", "pubsub", "max_payload"}
	for i := 0; i < 400; i++ {
		k := kinds[i%len(kinds)]
		l := dataset.Normal
		if k == "auth_timeout" || k == "max_payload" {
			l = dataset.Anomalous
		}
		in = append(in, dataset.Session{ID: fmt.Sprint("s", i), Label: l, Lines: []string{"line " + k}, Attributes: map[string]string{dataset.KindAttr: k}})
	}
	src := filepath.Join(dir, "sessions.jsonl")
	if err := dataset.WriteFile(src, in); err != nil {
		t.Fatal(err)
	}
	read := func(out string) map[string]map[string]int {
		m := map[string]map[string]int{}
		for _, p := range []string{"train", "valid", "test"} {
			ss, err := dataset.ReadFile(filepath.Join(out, p+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			m[p] = map[string]int{}
			for _, s := range ss {
				m[p][s.Attributes[dataset.KindAttr]]++
			}
		}
		return m
	}
	for _, out := range []string{"a", "b"} {
		if _, _, err := runCLI(t, "sessions", "--source", "jsonl", "--in", src, "--out", filepath.Join(dir, out), "--seed", "3"); err != nil {
			t.Fatal(err)
		}
	}
	a, b := read(filepath.Join(dir, "a")), read(filepath.Join(dir, "b"))
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different splits: %v %v", a, b)
	}
	// 50 sessions per fault kind: 10 test, 40 left, 4 valid, 36 train.
	for _, k := range []string{"auth_timeout", "max_payload", "drain"} {
		if a["test"][k] != 10 || a["valid"][k] != 4 || a["train"][k] != 36 {
			t.Errorf("kind %s: train %d valid %d test %d, want 36 4 10", k, a["train"][k], a["valid"][k], a["test"][k])
		}
	}
	if n := a["train"]["pubsub"] + a["valid"]["pubsub"] + a["test"]["pubsub"]; n != 250 || a["test"]["pubsub"] != 50 {
		t.Errorf("pubsub: %v", a)
	}
}

func TestConfusionMetrics(t *testing.T) {
	var c confusion
	for _, x := range []struct {
		l int
		a bool
	}{{1, true}, {1, true}, {1, false}, {0, true}, {0, false}, {0, false}} {
		c.add(x.l, x.a)
	}
	if c != (confusion{TP: 2, FN: 1, FP: 1, TN: 2}) {
		t.Fatalf("%+v", c)
	}
	if p, r, f := c.precision(), c.recall(), c.f1(); math.Abs(p-2.0/3) > 1e-12 || math.Abs(r-2.0/3) > 1e-12 || math.Abs(f-2.0/3) > 1e-12 {
		t.Errorf("p %v r %v f %v", p, r, f)
	}
	if !math.IsNaN((confusion{TN: 3}).f1()) {
		t.Error("F1 with no positives should be undefined")
	}
	if b, _ := jsonFloat(math.NaN()).MarshalJSON(); string(b) != "null" {
		t.Errorf("NaN as %s", b)
	}
}

func TestTauSensitivity(t *testing.T) {
	rec := []float64{0.1, 0.2, 0.3, 0.9, 1.0}
	pred := []bool{false, true, false, false, true}
	lab := []int{0, 1, 0, 1, 0}
	pts := tauSensitivity(rec, pred, lab, func(q float64) float64 { return q }, []float64{0.25, 0.95})
	if pts[0].HighShare != 0.6 || pts[0].High != (confusion{FN: 1, FP: 1, TN: 1}) || pts[0].Low != (confusion{TP: 1, TN: 1}) {
		t.Errorf("q 0.25: %+v", pts[0])
	}
	if pts[1].HighShare != 0.2 || pts[1].LowF1 != jsonFloat(2.0/3) {
		t.Errorf("q 0.95: %+v", pts[1])
	}
}

func TestQuantile(t *testing.T) {
	if q := quantile([]float64{3, 1, 2, 4}, 0.5); q != 2.5 {
		t.Errorf("median %v", q)
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("empty quantile")
	}
}

func TestEvaluateWindows(t *testing.T) {
	ss := make([]dataset.Session, 250)
	for i := range ss {
		ss[i] = dataset.Session{ID: fmt.Sprint(i), Lines: []string{"x"}}
	}
	det := trainNewTemplate(ss)
	for _, c := range []struct{ window, points int }{{0, 0}, {100, 3}, {60, 4}, {1000, 0}} {
		st, err := evaluate(context.Background(), "m", det, ss, nil, c.window, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.CallsPerWindow) != c.points {
			t.Errorf("window %d: %d points, want %d", c.window, len(st.CallsPerWindow), c.points)
		}
	}
}
