package model_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/model"
)

// learnWith runs a Learner over sessions and returns its screen's stats and
// decisions once it has trained.
func learnWith(t *testing.T, sessions []model.LabelledSession, judge model.Judge, review model.ReviewOptions) (*model.Learner, model.ReviewStats, map[string]model.ScreenDecision) {
	t.Helper()
	decided := map[string]model.ScreenDecision{}
	l, err := model.NewLearner(model.LearnOptions{
		Sessions: len(sessions),
		Train:    fastTrain,
		Cascade:  model.CascadeOptions{Encoder: &hashEncoder{dim: 64}, Judge: judge},
		Review:   review,
		OnScreen: func(ds []model.ScreenDecision) {
			for _, d := range ds {
				decided[d.ID] = d
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	for _, s := range sessions {
		if _, err := l.Detect(context.Background(), model.Session{ID: s.ID, Lines: s.Lines}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-l.Ready():
	case <-time.After(60 * time.Second):
		t.Fatalf("learner not ready: %v", l.Err())
	}
	if len(decided) != len(sessions) {
		t.Fatalf("%d decisions for %d sessions", len(decided), len(sessions))
	}
	return l, l.Review(), decided
}

// contaminated is a learning window with a few percent of faulty blocks.
func contaminated() []model.LabelledSession {
	g := &hdfs{r: rand.New(rand.NewSource(11)), varied: true}
	return g.sessions(300, 15)
}

// With the screen off (learn mode before it), every faulty session enters the
// model as normal; with it on, none does: the Judge labels the suspects within
// the budget and the rest stay out.
func TestLearnerScreenKeepsFaultsOutOfNormal(t *testing.T) {
	sessions := contaminated()
	truth := labelsOf(sessions)
	count := func(decided map[string]model.ScreenDecision) (asNormal, asAnomalous, heldNormal int) {
		for id, d := range decided {
			switch {
			case truth[id] == 1 && d.Included && d.Label == 0:
				asNormal++
			case truth[id] == 1 && d.Included:
				asAnomalous++
			case truth[id] == 0 && !d.Included:
				heldNormal++
			}
		}
		return
	}

	_, st, decided := learnWith(t, sessions, &oracleJudge{labels: truth}, model.ReviewOptions{Off: true})
	if n, _, _ := count(decided); n != 15 || st.Requests != 0 || st.HeldOut != 0 {
		t.Fatalf("screen off: %d of 15 faulty sessions taken as normal, stats %+v", n, st)
	}

	judge := &oracleJudge{labels: truth}
	l, st, decided := learnWith(t, sessions, judge, model.ReviewOptions{Budget: 0.10})
	asNormal, asAnomalous, heldNormal := count(decided)
	if asNormal != 0 {
		t.Fatalf("screen on: %d faulty sessions taken as normal; stats %+v", asNormal, st)
	}
	if asAnomalous == 0 || st.ReviewedAnomalous != asAnomalous {
		t.Fatalf("screen on: %d faulty sessions in the model as anomalous, stats say %d", asAnomalous, st.ReviewedAnomalous)
	}
	if max := len(sessions) / 10; st.Requests > max || judge.calls != st.Requests {
		t.Fatalf("%d requests (judge saw %d), budget %d", st.Requests, judge.calls, max)
	}
	if heldNormal > len(sessions)/4 {
		t.Fatalf("%d normal sessions held out of %d", heldNormal, len(sessions))
	}
	if st.Sessions != len(sessions) || st.Suspects < 15 || st.HeldOut+st.Reviewed < st.Suspects {
		t.Fatalf("stats %+v", st)
	}
	// The judged anomalies are in the memory: the small model has two classes.
	if b := l.Cascade().Bundle(); b.Memory == nil || b.Manifest.Training.Anomalous != asAnomalous {
		t.Fatalf("bundle trained with %d anomalous sessions, want %d", b.Manifest.Training.Anomalous, asAnomalous)
	}
}

// Without a Judge, and when the Judge fails, suspects stay out of the model,
// counted; the learner still trains on the rest.
func TestLearnerScreenWithoutJudgeHoldsSuspectsOut(t *testing.T) {
	sessions := contaminated()
	for name, judge := range map[string]model.Judge{
		"no judge":      nil,
		"failing judge": &oracleJudge{fail: errors.New("endpoint down")},
	} {
		t.Run(name, func(t *testing.T) {
			_, st, decided := learnWith(t, sessions, judge, model.ReviewOptions{})
			for id, d := range decided {
				if labelsOf(sessions)[id] == 1 && d.Included {
					t.Fatalf("faulty session %s entered the model: %+v", id, d)
				}
			}
			if st.Reviewed != 0 || st.HeldOut != st.Suspects || st.Suspects < 15 {
				t.Fatalf("stats %+v", st)
			}
			if judge == nil && st.Requests != 0 || judge != nil && st.ReviewErrors != st.Requests {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// flows is a learning window of three common flows, each session opened for
// one of four clients: two normal flows and a fault that keeps happening (10%
// of the sessions) with no warning line and no rare line shape: every rule
// that looks for rarity takes it as normal.
func flows() []model.LabelledSession {
	clients := []string{"alpha", "alpha", "bravo", "charlie", "delta"} // alpha: each flow's largest content
	var out []model.LabelledSession
	for i := range 300 {
		c := clients[i%len(clients)]
		lines := []string{fmt.Sprintf(`conn %d open for "%s"`, i, c), "read block", fmt.Sprintf("conn %d closed", i)}
		label := 0
		switch {
		case i%10 == 3:
			lines[2] = fmt.Sprintf("conn %d closed: peer reset", i)
			label = 1
		case i%3 == 0:
			lines[1] = "write block"
		}
		out = append(out, model.LabelledSession{ID: fmt.Sprintf("s%03d", i), Label: label, Lines: lines})
	}
	return out
}

// A fault as common as a normal flow is asked about as a flow: no session of
// it enters the model as normal.
func TestLearnerScreenAsksAboutCommonFlows(t *testing.T) {
	sessions := flows()
	truth := labelsOf(sessions)
	judge := &oracleJudge{labels: truth}
	_, st, decided := learnWith(t, sessions, judge, model.ReviewOptions{Budget: 0.10})
	for id, d := range decided {
		if truth[id] == 1 && d.Included && d.Label == 0 {
			t.Fatalf("faulty session %s entered the model as normal; stats %+v", id, st)
		}
		if truth[id] == 0 && !d.Included {
			t.Fatalf("normal session %s held out; stats %+v", id, st)
		}
	}
	if st.Flows != 3 || st.FlowsAnomalous != 1 || st.Requests > 30 || judge.calls != st.Requests {
		t.Fatalf("stats %+v, judge called %d times", st, judge.calls)
	}
}

// One wrong "anomalous" about a normal flow does not hold the flow out: a
// second answer about another of its contents settles it, and the wrong label
// stays on its own content.
func TestLearnerScreenFlowNeedsTwoAlarms(t *testing.T) {
	sessions := flows()
	truth := labelsOf(sessions)
	judge := &oracleJudge{labels: truth, wrong: map[string]bool{}}
	for _, s := range sessions {
		if s.Label == 0 && strings.Contains(s.Lines[0], `"alpha"`) {
			judge.wrong[s.ID] = true // a content-correlated error, as a real LLM's
		}
	}
	_, st, decided := learnWith(t, sessions, judge, model.ReviewOptions{Budget: 0.10})
	held, mislabelled := 0, 0
	for _, s := range sessions {
		d := decided[s.ID]
		switch {
		case s.Label == 0 && !d.Included:
			held++
		case s.Label == 0 && d.Label == 1:
			if !judge.wrong[s.ID] {
				t.Fatalf("normal session %s labelled anomalous without a wrong answer about its content", s.ID)
			}
			mislabelled++
		case s.Label == 1 && d.Included && d.Label == 0:
			t.Fatalf("faulty session %s entered the model as normal", s.ID)
		}
	}
	if held != 0 || mislabelled == 0 || st.FlowsAnomalous != 1 {
		t.Fatalf("%d normal sessions held out, %d labelled anomalous, stats %+v", held, mislabelled, st)
	}
}
