package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/coorlog/coorlogprocessor/internal/compose"
	"io"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// learnReport is `eval --learn`'s result: learn mode on unlabelled sessions,
// then detection on the test sessions, as the processor runs it.
type learnReport struct {
	Learn  string            `json:"learn"`
	Test   string            `json:"test"`
	LLM    string            `json:"llm"`
	AEM    bool              `json:"aem"`
	Screen string            `json:"screen"` // "on" or "off" (every learning session taken as normal)
	Budget float64           `json:"review_budget"`
	Review model.ReviewStats `json:"review"`
	// Truth, from the labels the learner never saw.
	LearnAnomalous   int `json:"learn_anomalous"`           // anomalous learning sessions
	TakenAsNormal    int `json:"anomalous_taken_as_normal"` // of them, in the model with label 0
	HeldOutAnomalous int `json:"held_out_anomalous"`        // of them, held out
	ReviewedWrong    int `json:"reviewed_wrong"`            // judged labels that contradict the truth
	NormalHeldOut    int `json:"normal_held_out"`           // normal learning sessions held out

	Result runStats `json:"result"`
}

type learnEvalArgs struct {
	learn, test string
	encoder     string
	threads     int
	screenOff   bool
	budget      float64
	aem         bool
	aemBatch    int
	seed        int64
	window      int
	json        bool
}

// runEvalLearn is `coorlog eval --learn`: a model.Learner collects the
// learning sessions (their labels hidden from it; the simulated LLM answers
// the screen's reviews from them), trains, and the cascade it hands over to
// is evaluated on the test sessions.
func runEvalLearn(ctx context.Context, a learnEvalArgs, lf *llmFlags, stdout, stderr io.Writer) error {
	learn, err := dataset.ReadFile(a.learn)
	if err != nil {
		return err
	}
	test, err := dataset.ReadFile(a.test)
	if err != nil {
		return err
	}
	if len(learn) == 0 {
		return fmt.Errorf("%w: --learn %s has no sessions", errUsage, a.learn)
	}
	enc, closeEnc, err := loadEncoder(a.encoder, a.threads)
	if err != nil {
		return err
	}
	defer closeEnc()

	// One judge for the screen's reviews and, through the cascade the learner
	// hands over to, the test sessions; its counts are reset in between (the
	// reviews are in the learner's ReviewStats).
	var judge *countingJudge
	if lf.enabled() {
		j, err := buildJudge(lf, append(append([]dataset.Session(nil), learn...), test...), a.seed)
		if err != nil {
			return err
		}
		judge = &countingJudge{inner: j}
	}
	ref := a.encoder
	if ref == "" {
		ref = compose.DefaultEncoder
	}
	var decisions []model.ScreenDecision
	l, err := model.NewLearner(model.LearnOptions{
		Sessions: len(learn),
		Train:    model.TrainOptions{Encoder: bundle.EncoderRef{Name: ref}},
		Cascade:  model.CascadeOptions{Encoder: newCache(enc), Judge: judgeOrNil(judge)},
		Review:   model.ReviewOptions{Off: a.screenOff, Budget: a.budget},
		OnScreen: func(d []model.ScreenDecision) { decisions = d },
	})
	if err != nil {
		return err
	}
	defer l.Close()

	bar := newProgress(stderr, "learn", len(learn))
	for _, s := range learn {
		if _, err := l.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines}); err != nil {
			return fmt.Errorf("learn session %s: %w", s.ID, err)
		}
		bar.Add(1)
	}
	bar.Done()
	fmt.Fprintf(stderr, "learn: screening and training on %d sessions\n", len(learn))
	for done := false; !done; {
		select {
		case <-l.Ready():
			done = true
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
			if err := l.Err(); err != nil {
				return err
			}
		}
	}

	rep := learnReport{Learn: a.learn, Test: a.test, LLM: lf.note(), AEM: a.aem, Screen: "on", Budget: a.budget, Review: l.Review()}
	if a.screenOff {
		rep.Screen = "off"
	}
	truth := make(map[string]int, len(learn))
	for _, s := range learn {
		truth[s.ID] = s.Label
		rep.LearnAnomalous += s.Label
	}
	for _, d := range decisions {
		y := truth[d.ID]
		switch {
		case !d.Included && y == 1:
			rep.HeldOutAnomalous++
		case !d.Included:
			rep.NormalHeldOut++
		case y == 1 && d.Label == 0:
			rep.TakenAsNormal++
		}
		if d.Included && d.Judged && d.Label != y {
			rep.ReviewedWrong++
		}
	}

	if judge != nil {
		judge.reset()
	}
	batch := 0
	if a.aem {
		batch = a.aemBatch
	}
	run, closeRun := runCascade(ctx, l.Cascade(), batch)
	res, err := evaluate(ctx, "coorlog (learn mode)", run, test, judge, a.window, stderr)
	if cerr := closeRun(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if lf.simulated {
		res.TokensNote = "simulated"
	}
	rep.Result = res
	if a.json {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	printLearnEval(stdout, rep)
	return nil
}

func printLearnEval(w io.Writer, r learnReport) {
	rv := r.Review
	fmt.Fprintf(w, "learn mode on %s (%d sessions, %d anomalous: labels hidden from the learner), then %s\n", r.Learn, rv.Sessions, r.LearnAnomalous, r.Test)
	fmt.Fprintf(w, "LLM: %s%s; screen %s", r.LLM, map[bool]string{true: "; AEM on", false: ""}[r.AEM], r.Screen)
	if r.Screen == "on" {
		fmt.Fprintf(w, ", review budget %.0f%% of the learning sessions", 100*r.Budget)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "screen: %d suspects; %d LLM requests (%s of the learning sessions) settled %d sessions, %d anomalous; %d review errors; %d held out\n",
		rv.Suspects, rv.Requests, pct(float64(rv.Requests)/float64(max(rv.Sessions, 1))), rv.Reviewed, rv.ReviewedAnomalous, rv.ReviewErrors, rv.HeldOut)
	fmt.Fprintf(w, "truth: of %d anomalous learning sessions, %d entered the model as normal, %d held out; %d normal sessions held out; %d judged labels wrong\n",
		r.LearnAnomalous, r.TakenAsNormal, r.HeldOutAnomalous, r.NormalHeldOut, r.ReviewedWrong)
	res := r.Result
	fmt.Fprintf(w, "test: precision %s  recall %s  F1 %s; routes: %s\n", f3(float64(res.Precision)), f3(float64(res.Recall)), f3(float64(res.F1)), routeList(res.Routes))
	fmt.Fprintf(w, "LLM on the test sessions: %d calls for %d sessions (%s)\n", res.LLMCalls, res.LLMSessions, pct(float64(res.LLMSessions)/float64(max(res.Sessions, 1))))
	if res.Errors > 0 {
		fmt.Fprintf(w, "errors: %d sessions could not be scored (counted as normal)\n", res.Errors)
	}
	printKinds(w, "by kind", []runStats{res})
}
