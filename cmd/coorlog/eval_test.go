package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// parityEncoder is the encoder package's tiny random BERT checkpoint: a real
// checkpoint in Hugging Face layout, small enough for a fast smoke test.
const parityEncoder = "../../model/encoder/testdata/parity"

func tinyHDFS(t *testing.T, dir string) (train, valid, test string) {
	t.Helper()
	syn := dataset.NewHDFSSynth(5)
	normal := [][]int{
		{5, 5, 5, 22, 11, 9, 11, 9, 11, 9, 26, 26, 26, 23, 23, 23, 21, 21, 21},
		{22, 5, 5, 5, 11, 9, 11, 9, 11, 9, 26, 26, 26},
	}
	anomalous := [][]int{{5, 22, 5, 7, 4, 4, 3}, {5, 5, 22, 5, 11, 9, 14, 10, 17, 26}}
	mk := func(n int) []dataset.Session {
		var out []dataset.Session
		for i := range n {
			// Kinds as the corpus builder writes them: one per template
			// sequence.
			var s dataset.Session
			if i%5 == 4 {
				s = syn.Session(anomalous[i%2], 1)
				s.Attributes = map[string]string{dataset.KindAttr: []string{"fault_a", "fault_b"}[i%2]}
			} else {
				s = syn.Session(normal[i%2], 0)
				s.Attributes = map[string]string{dataset.KindAttr: []string{"normal_a", "normal_b"}[i%2]}
			}
			out = append(out, s)
		}
		return out
	}
	train, valid, test = filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "valid.jsonl"), filepath.Join(dir, "test.jsonl")
	for p, n := range map[string]int{train: 60, valid: 20, test: 30} {
		if err := dataset.WriteFile(p, mk(n)); err != nil {
			t.Fatal(err)
		}
	}
	return train, valid, test
}

func TestTrainEvalSmoke(t *testing.T) {
	if _, err := os.Stat(filepath.Join(parityEncoder, "config.json")); err != nil {
		t.Skipf("parity checkpoint absent: %v", err)
	}
	dir := t.TempDir()
	train, valid, test := tinyHDFS(t, dir)
	modelDir := filepath.Join(dir, "model")
	out, _, err := runCLI(t, "train", "--train", train, "--valid", valid, "--out", modelDir, "--encoder", parityEncoder, "--quantile", "0.95")
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	if !strings.Contains(out, "trained on 60 sessions (48 normal, 12 anomalous)") || !strings.Contains(out, "(quantile 0.95)") {
		t.Errorf("train summary: %s", out)
	}
	plots := filepath.Join(dir, "plots")
	out, _, err = runCLI(t, "eval", "--model", modelDir, "--test", test, "--json", "--plot", plots, "--llm", "simulated-content:1", "--train", train)
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	var rep struct {
		LLM       string `json:"llm"`
		Simulated bool   `json:"llm_simulated"`
		Result    struct {
			Sessions  int                   `json:"sessions"`
			Confusion confusion             `json:"confusion"`
			F1        *float64              `json:"f1"`
			Routes    map[string]int        `json:"routes"`
			Tokens    string                `json:"tokens_note"`
			ByKind    map[string]*kindStats `json:"by_kind"`
		} `json:"result"`
		Baselines []runStats          `json:"baselines"`
		Stage     map[string]*float64 `json:"ms_per_session_by_stage"`
		TauCurve  []tauPoint          `json:"tau_sensitivity"`
		Tau       float64             `json:"tau"`
		Decisions *decisions          `json:"cascade_decisions"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval --json is not one JSON object: %v\n%s", err, out)
	}
	r := rep.Result
	if r.Sessions != 30 || r.Confusion.n() != 30 || r.Confusion.TP+r.Confusion.FN != 6 {
		t.Errorf("counts: %+v", r)
	}
	if r.F1 == nil || *r.F1 < 0 || *r.F1 > 1 {
		t.Errorf("F1 %v", r.F1)
	}
	routed := 0
	for _, n := range r.Routes {
		routed += n
	}
	if routed != 30 {
		t.Errorf("routes %v do not cover every session", r.Routes)
	}
	// Per kind: every session under its kind; a perfect LLM on every
	// session would catch them all, so only the counts are checked.
	if k := r.ByKind["fault_a"]; k == nil || k.Label != 1 || k.Sessions != 3 || len(r.ByKind) != 4 {
		t.Errorf("by kind: %v", r.ByKind)
	}
	if len(rep.Baselines) != 3 || rep.Baselines[2].Method != "(g) TF-IDF kNN k=5" || rep.Baselines[2].Confusion.n() != 30 || rep.Baselines[2].ByKind == nil {
		t.Errorf("baselines: %+v", rep.Baselines)
	}
	if !rep.Simulated || !strings.Contains(rep.LLM, "content-correlated") {
		t.Errorf("LLM not marked simulated: %q", rep.LLM)
	}
	if r.Routes["llm"] > 0 && r.Tokens != "simulated" {
		t.Errorf("tokens not marked simulated: %q", r.Tokens)
	}
	for _, k := range []string{"encode", "coordinator", "small_model", "total"} {
		if rep.Stage[k] == nil || *rep.Stage[k] < 0 {
			t.Errorf("stage time %s = %v", k, rep.Stage[k])
		}
	}
	// Without AEM, tau stays the bundle's; the counters cannot exceed the
	// sessions.
	if d := rep.Decisions; d == nil || d.TauAtEnd != rep.Tau || d.Known+d.Fragile+d.PendingHits > 30 || d.PendingHits != 0 {
		t.Errorf("cascade decisions %+v, tau %g", rep.Decisions, rep.Tau)
	}
	if len(rep.TauCurve) != len(tauQuantiles()) {
		t.Errorf("tau curve has %d points", len(rep.TauCurve))
	}
	if st, err := os.Stat(filepath.Join(plots, "tau_sensitivity_test.png")); err != nil || st.Size() == 0 {
		t.Errorf("tau plot: %v", err)
	}
	// The text form carries the confusion matrix and the stage times.
	out, _, err = runCLI(t, "eval", "--model", modelDir, "--test", test)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"precision", "confusion matrix", "mean ms per session", "no LLM", "cascade: "} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
	// A model directory that is not one is a clear error.
	if _, _, err := runCLI(t, "eval", "--model", dir, "--test", test); err == nil || !strings.Contains(err.Error(), "loading model") {
		t.Errorf("missing bundle: %v", err)
	}
}

// coorlog feedback on a model directory: a label is saved into the bundle,
// listed, undone; an unknown session or feedback id is an error that leaves
// the bundle as it was.
func TestFeedbackCommand(t *testing.T) {
	if _, err := os.Stat(filepath.Join(parityEncoder, "config.json")); err != nil {
		t.Skipf("parity checkpoint absent: %v", err)
	}
	dir := t.TempDir()
	train, valid, test := tinyHDFS(t, dir)
	modelDir := filepath.Join(dir, "model")
	if _, _, err := runCLI(t, "train", "--train", train, "--valid", valid, "--out", modelDir, "--encoder", parityEncoder); err != nil {
		t.Fatalf("train: %v", err)
	}
	sessions, err := dataset.ReadFile(test)
	if err != nil {
		t.Fatal(err)
	}
	id := sessions[0].ID
	out, _, err := runCLI(t, "feedback", "--model", modelDir, "--encoder", parityEncoder, "--label", "anomalous",
		"--sessions", test, "--session", id, "--why", "seen in the incident", "--who", "ops")
	if err != nil || !strings.Contains(out, "fb-1 applied: anomalous") {
		t.Fatalf("feedback: %v\n%s", err, out)
	}
	b, err := bundle.Load(modelDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Feedback) != 1 || b.Feedback[0].SessionID != id || b.Feedback[0].Who != "ops" || b.Memory.Len() == 0 {
		t.Fatalf("bundle feedback %+v", b.Feedback)
	}
	if _, _, err := runCLI(t, "feedback", "--model", modelDir, "--encoder", parityEncoder, "--label", "normal",
		"--sessions", test, "--session", "blk_404"); err == nil || !strings.Contains(err.Error(), `session "blk_404" is not in`) {
		t.Fatalf("unknown session: %v", err)
	}
	if _, _, err := runCLI(t, "feedback", "--model", modelDir, "--encoder", parityEncoder, "--undo", "fb-9"); err == nil || !strings.Contains(err.Error(), "unknown or already undone") {
		t.Fatalf("unknown feedback id: %v", err)
	}
	if out, _, err = runCLI(t, "feedback", "--model", modelDir, "--encoder", parityEncoder, "--undo", "fb-1", "--who", "lead"); err != nil || !strings.Contains(out, "fb-1 undone") {
		t.Fatalf("undo: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "feedback", "--model", modelDir, "--list")
	if err != nil || !strings.Contains(out, "fb-1") || !strings.Contains(out, "undone") || !strings.Contains(out, "by lead") || !strings.Contains(out, "seen in the incident") {
		t.Fatalf("list: %v\n%s", err, out)
	}
}
