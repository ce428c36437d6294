package llm

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/core"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// simSessions builds n sessions with distinct template sequences (so the
// verdict cache does not merge them) and alternating labels.
func simSessions(n int) ([]core.Session, map[string]int) {
	labels := map[string]int{}
	var out []core.Session
	for i := range n {
		id := fmt.Sprintf("blk_%d", i)
		s := core.Session{ID: id, Lines: []string{fmt.Sprintf("event-%s started", strings.Repeat("x", i%50+1)), fmt.Sprintf("phase-%s done", strings.Repeat("y", i/50+1))}}
		out = append(out, s)
		labels[id] = i % 2
	}
	return out, labels
}

func TestSimulatedAccuracyAndDeterminism(t *testing.T) {
	sessions, labels := simSessions(300)
	nbs := []core.Neighbour{neighbour("a", 0, 0.9), neighbour("b", 1, 0.7)}
	run := func(acc float64, seed int64) ([]bool, []core.Judgement) {
		j := NewSimulated(labels, acc, seed)
		var verdicts []bool
		var jds []core.Judgement
		for _, s := range sessions {
			jd, err := j.Judge(context.Background(), s, nbs)
			if err != nil {
				t.Fatalf("simulated: %v", err)
			}
			verdicts = append(verdicts, jd.Anomaly)
			jds = append(jds, jd)
		}
		return verdicts, jds
	}
	accuracy := func(v []bool) float64 {
		right := 0
		for i, s := range sessions {
			if v[i] == (labels[s.ID] == 1) {
				right++
			}
		}
		return float64(right) / float64(len(v))
	}
	perfect, jds := run(1, 1)
	if a := accuracy(perfect); a != 1 {
		t.Fatalf("accuracy 1 gave %v", a)
	}
	if wrong, _ := run(0, 1); accuracy(wrong) != 0 {
		t.Fatalf("accuracy 0 gave %v", accuracy(wrong))
	}
	v1, _ := run(0.9, 7)
	v2, _ := run(0.9, 7)
	v3, _ := run(0.9, 8)
	if !slices.Equal(v1, v2) {
		t.Fatal("same seed must give the same answers")
	}
	if slices.Equal(v1, v3) {
		t.Fatal("another seed should give other answers")
	}
	if a := accuracy(v1); math.Abs(a-0.9) > 0.06 {
		t.Fatalf("accuracy 0.9 gave %v", a)
	}
	// The draw itself, over many ids: the rate matches the accuracy.
	b := &simBackend{accuracy: 0.99, seed: 42}
	right := 0
	for i := range 50000 {
		if b.right(fmt.Sprintf("blk_%d", i)) {
			right++
		}
	}
	if r := float64(right) / 50000; math.Abs(r-0.99) > 0.002 {
		t.Fatalf("right-answer rate %v for accuracy 0.99", r)
	}
	// Inheritance: with a neighbour of each label among the top-K, Evol
	// Detect finds the one with the (correct) label, and the session inherits.
	for i, jd := range jds {
		want := []int{labels[sessions[i].ID]} // neighbour a (index 0) is normal, b (index 1) abnormal
		if !jd.Inherited || !slices.Equal(jd.Evolutions, want) || jd.Calls != 2 || !jd.TokensEstimated || jd.PromptTokens < 100 || jd.CompletionTokens == 0 {
			t.Fatalf("session %d: %+v", i, jd)
		}
		if !strings.HasPrefix(jd.Reason, "simulated LLM") {
			t.Fatalf("reason %q", jd.Reason)
		}
	}
}

func TestSimulatedADPathAndCache(t *testing.T) {
	labels := map[string]int{"s1": 1, "s2": 1}
	j := NewSimulated(labels, 1, 3)
	// Only normal neighbours: none is an evolution of an abnormal session,
	// so the AD agent decides (certain prompt: the neighbours agree).
	nbs := []core.Neighbour{neighbour("a", 0, 0.9), neighbour("b", 0, 0.8), neighbour("c", 0, 0.7), neighbour("d", 0, 0.6)}
	jd, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nbs)
	if err != nil {
		t.Fatal(err)
	}
	if jd.Inherited || !jd.Anomaly || jd.Calls != 4 || !strings.HasPrefix(jd.Reason, "simulated LLM") || !strings.Contains(jd.Reason, "ad_certain") {
		t.Fatalf("AD path: %+v", jd)
	}
	// Same template sequence: cached, no calls.
	jd2, err := j.Judge(context.Background(), hdfsSession("s2", "2"), nbs)
	if err != nil || !jd2.Cached || jd2.Calls != 0 || !strings.HasPrefix(jd2.Reason, "simulated LLM") {
		t.Fatalf("cache: %+v %v", jd2, err)
	}
	sj := j.(*Judge)
	if st := sj.Stats(); st.Calls != 4 || st.CacheHits != 1 || st.CertainPrompts != 1 || st.EstimatedCalls != 4 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.HasPrefix(sj.Version(), "simulated-1+") {
		t.Fatalf("version %q", sj.Version())
	}
	// A session without a label fails (the cascade falls back).
	other := hdfsSession("unknown", "3")
	other.Lines = other.Lines[:1]
	if _, err := j.Judge(context.Background(), other, nbs); err == nil {
		t.Fatal("unknown session must fail")
	}
}

func TestSimulatedTokensMatchRenderedPrompts(t *testing.T) {
	// The simulated LLM counts what the real one would send: compare with
	// the estimate for the same session against the fake endpoint.
	f := newFake(t, scripted(func(string) bool { return false }, "normal"))
	s := hdfsSession("s1", "1")
	nbs := []core.Neighbour{neighbour("a", 1, 0.9)}
	real, err := mustNew(t, testConfig(f)).Judge(context.Background(), s, nbs)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := NewSimulated(map[string]int{"s1": 0}, 1, 1).Judge(context.Background(), s, nbs)
	if err != nil {
		t.Fatal(err)
	}
	var sent int
	for _, r := range f.requests() {
		for _, m := range r.Parsed.Messages {
			sent += estimateTokens(m.Content) + 4
		}
	}
	if sim.Calls != real.Calls || sim.PromptTokens != sent {
		t.Fatalf("simulated %d calls / %d prompt tokens; real prompts %d calls / %d tokens", sim.Calls, sim.PromptTokens, real.Calls, sent)
	}
}

// contentSessions builds n contents of three sessions each: the same set of
// templates in another order, with other variables, and with a line
// repeated. Labels alternate per content. contents maps ID -> content key.
func contentSessions(n int) (sessions []core.Session, labels map[string]int, contents map[string]string) {
	labels, contents = map[string]int{}, map[string]string{}
	for i := range n {
		a := func(k int) string { return fmt.Sprintf("event-%s started for conn %d", strings.Repeat("x", i%40+1), k) }
		b := func(k int) string { return fmt.Sprintf("phase-%s done in %d ms", strings.Repeat("y", i/40+1), k) }
		for v, lines := range [][]string{{a(i), b(3)}, {b(i + 7), a(9)}, {a(1), b(2), b(3)}} {
			id := fmt.Sprintf("c%d-s%d", i, v)
			sessions = append(sessions, core.Session{ID: id, Lines: lines})
			labels[id] = i % 2
			contents[id] = normalize.ContentKey(lines)
		}
	}
	return sessions, labels, contents
}

func TestSimulatedContentErrs(t *testing.T) {
	sessions, labels, contents := contentSessions(300)
	if contents[sessions[0].ID] != contents[sessions[1].ID] || contents[sessions[0].ID] != contents[sessions[2].ID] || contents[sessions[0].ID] == contents[sessions[3].ID] {
		t.Fatal("test data: the three sessions of a content must share exactly one key")
	}
	nbs := []core.Neighbour{neighbour("a", 0, 0.9), neighbour("b", 1, 0.7)}
	run := func(j core.Judge) []bool {
		var wrong []bool
		for _, s := range sessions {
			jd, err := j.Judge(context.Background(), s, nbs)
			if err != nil {
				t.Fatalf("simulated: %v", err)
			}
			if !strings.HasPrefix(jd.Reason, "simulated LLM") {
				t.Fatalf("reason %q", jd.Reason)
			}
			wrong = append(wrong, jd.Anomaly != (labels[s.ID] == 1))
		}
		return wrong
	}
	w1 := run(NewSimulatedContent(labels, contents, 0.9, 7))
	if w2 := run(NewSimulatedContent(labels, contents, 0.9, 7)); !slices.Equal(w1, w2) {
		t.Fatal("same seed must give the same answers")
	}
	if w3 := run(NewSimulatedContent(labels, contents, 0.9, 8)); slices.Equal(w1, w3) {
		t.Fatal("another seed should give other answers")
	}
	// A content judged wrong is wrong for all its sessions; about 10% are.
	wrongContents := 0
	for c := 0; c < len(w1); c += 3 {
		if w1[c] != w1[c+1] || w1[c] != w1[c+2] {
			t.Fatalf("content %d: sessions answered %v %v %v", c/3, w1[c], w1[c+1], w1[c+2])
		}
		if w1[c] {
			wrongContents++
		}
	}
	if r := float64(wrongContents) / 300; math.Abs(r-0.1) > 0.05 {
		t.Fatalf("wrong-content share %v for accuracy 0.9", r)
	}
	// The per-session draw does split contents (so the check above can fail);
	// the verdict cache, which would answer a repeated session, is off here.
	perSession := newSimulated(labels, nil, 0.5, 7)
	perSession.cache = nil
	ws := run(perSession)
	split := false
	for c := 0; c < len(ws); c += 3 {
		split = split || ws[c] != ws[c+1] || ws[c] != ws[c+2]
	}
	if !split {
		t.Fatal("per-session mode answered every content alike")
	}
	// The draw over many contents: the wrong share is 1-accuracy.
	b := &simBackend{accuracy: 0.95, seed: 42, contents: map[string]string{}}
	right := 0
	for i := range 50000 {
		word := strings.Map(func(r rune) rune { return 'a' + (r - '0') }, fmt.Sprint(i)) // digits would be masked
		if b.right(normalize.ContentKey([]string{"event " + word})) {
			right++
		}
	}
	if r := float64(right) / 50000; math.Abs(r-0.95) > 0.003 {
		t.Fatalf("right-answer rate %v for accuracy 0.95", r)
	}
	// Marked and versioned apart from the per-session mode; a session
	// without a content key fails (the cascade falls back).
	j := NewSimulatedContent(map[string]int{"s": 0}, nil, 1, 1).(*Judge)
	if !strings.HasPrefix(j.Version(), "simulated-content-1+") {
		t.Fatalf("version %q", j.Version())
	}
	if _, err := j.Judge(context.Background(), hdfsSession("s", "1"), nbs); err == nil {
		t.Fatal("a session without a content key must fail")
	}
}
