package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// evalReport is eval's result; --json prints it as one object.
type evalReport struct {
	Model      string     `json:"model"`
	Test       string     `json:"test"`
	LLM        string     `json:"llm"`
	Simulated  bool       `json:"llm_simulated"`
	AEM        bool       `json:"aem"`
	AEMBatch   int        `json:"aem_batch,omitempty"`
	Tau        float64    `json:"tau"`
	Result     runStats   `json:"result"`
	SmallModel runStats   `json:"small_model_alone"`
	Baselines  []runStats `json:"baselines,omitempty"` // with --train
	StageMs    stageTimes `json:"ms_per_session_by_stage"`
	Decisions  decisions  `json:"cascade_decisions"`
	TauCurve   []tauPoint `json:"tau_sensitivity,omitempty"`
	Plots      []string   `json:"plots,omitempty"`
}

// decisions count the cascade's routing rules that a route alone does not
// show (model.Stats).
type decisions struct {
	Known       uint64  `json:"known"`        // above tau, next to an LLM-judged session: small model
	Fragile     uint64  `json:"fragile"`      // below tau, split vote: LLM
	PendingHits uint64  `json:"pending_hits"` // same vector as a finding AEM has not applied: its label
	TauAtEnd    float64 `json:"tau_at_end"`   // after AEM's updates
	// LLM alarms that overruled the small model: held for corroboration,
	// then corroborated (learnt), contradicted or expired (not learnt);
	// still held at the end.
	Held         uint64 `json:"held"`
	Corroborated uint64 `json:"corroborated"`
	Contradicted uint64 `json:"contradicted"`
	Expired      uint64 `json:"expired"`
	HeldAtEnd    int    `json:"held_at_end"`
	NearHeld     uint64 `json:"near_held"` // below tau, within tau of a held answer: LLM
}

// stageTimes are mean milliseconds per session (encoding uses the embedding
// cache, as in the pipeline; llm is the mean over all sessions, not only
// those sent).
type stageTimes struct {
	Encode      jsonFloat `json:"encode"`
	Coordinator jsonFloat `json:"coordinator"`
	SmallModel  jsonFloat `json:"small_model"`
	LLM         jsonFloat `json:"llm"`
	Total       jsonFloat `json:"total"`
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", stderr)
	modelDir := fs.String("model", "", "model directory written by train (required)")
	test := fs.String("test", "", "labelled JSONL test sessions (required)")
	trainF := fs.String("train", "", "labelled JSONL training sessions (those the model was trained on): also report the lexical baselines (e) new-template rule, (f) n-gram and (g) TF-IDF kNN, trained on them")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	plotDir := fs.String("plot", "", "write the tau sensitivity plot (PNG) into this directory")
	aem := fs.Bool("aem", false, "let the adaptive evolution mechanism learn from LLM verdicts during the run")
	aemBatch := fs.Int("aem-batch", defaultAEMBatch, "with --aem: LLM findings per model update")
	encDir := fs.String("encoder", "", "encoder checkpoint directory (default: the one the bundle names)")
	threads := fs.Int("threads", 0, "libtorch intra-op threads (0 = libtorch default)")
	seed := fs.Int64("seed", 1, "seed of the simulated LLM")
	window := fs.Int("window", 100, "sessions per point of the LLM-calls-over-the-stream series")
	learnF := fs.String("learn", "", "unlabelled JSONL learning sessions (labels are hidden from the learner; the simulated LLM answers from them): run learn mode on them instead of loading --model, then evaluate on --test")
	screen := fs.String("screen", "on", "with --learn: on (suspect learning sessions are reviewed by the LLM or held out) or off (every learning session taken as normal)")
	budget := fs.Float64("review-budget", 0.10, "with --learn: share of the learning sessions whose review may cost an LLM request")
	var lf llmFlags
	lf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *learnF != "" {
		if err := required(fs, "test"); err != nil {
			return err
		}
	} else if err := required(fs, "model", "test"); err != nil {
		return err
	}
	if err := lf.validate(); err != nil {
		return err
	}
	if *aemBatch <= 0 {
		return fmt.Errorf("%w: --aem-batch must be positive", errUsage)
	}
	if *window <= 0 {
		return fmt.Errorf("%w: --window must be positive", errUsage)
	}
	if *learnF != "" {
		if *screen != "on" && *screen != "off" {
			return fmt.Errorf("%w: --screen must be on or off, not %q", errUsage, *screen)
		}
		if !(*budget > 0 && *budget <= 1) {
			return fmt.Errorf("%w: --review-budget must be in (0, 1]", errUsage)
		}
		return runEvalLearn(ctx, learnEvalArgs{learn: *learnF, test: *test, encoder: *encDir, threads: *threads, screenOff: *screen == "off",
			budget: *budget, aem: *aem, aemBatch: *aemBatch, seed: *seed, window: *window, json: *asJSON}, &lf, stdout, stderr)
	}
	b, err := bundle.Load(bundle.Path(*modelDir))
	if err != nil {
		return fmt.Errorf("loading model: %w", err)
	}
	sessions, err := dataset.ReadFile(*test)
	if err != nil {
		return err
	}
	var train []dataset.Session
	if *trainF != "" {
		if train, err = dataset.ReadFile(*trainF); err != nil {
			return err
		}
	}
	ref := b.Manifest.Encoder.Name
	if *encDir != "" {
		ref = *encDir
	}
	enc, closeEnc, err := loadEncoder(ref, *threads)
	if err != nil {
		return err
	}
	defer closeEnc()
	if lx := b.Manifest.Encoder.LexicalDims(); enc.Dim()+lx != b.Manifest.Encoder.Dim {
		return fmt.Errorf("encoder %s has width %d, the bundle was trained on width %d (%d of them lexical)", ref, enc.Dim(), b.Manifest.Encoder.Dim, lx)
	}

	rep := evalReport{Model: *modelDir, Test: *test, LLM: lf.note(), Simulated: lf.simulated, AEM: *aem, Tau: b.Coordinator.Tau()}

	// Pass 1: each stage on every session, timed (fresh embedding cache).
	st := &stages{enc: newCache(enc), b: b}
	rec := make([]float64, len(sessions))
	smAnom := make([]bool, len(sessions))
	labels := make([]int, len(sessions))
	var tEnc, tCoord, tSmall time.Duration
	sm := runStats{Method: "small model alone", Sessions: len(sessions), Routes: map[string]int{"small_model": len(sessions)}}
	bar := newProgress(stderr, "stages", len(sessions))
	for i, s := range sessions {
		r, err := st.run(ctx, s.Lines)
		if err != nil {
			return fmt.Errorf("session %s: %w", s.ID, err)
		}
		rec[i], smAnom[i], labels[i] = r.rec, r.smAnomaly, s.Label
		tEnc += r.encode
		tCoord += r.coord
		tSmall += r.smallDur
		sm.Confusion.add(s.Label, r.smAnomaly)
		sm.addKind(s, r.smAnomaly)
		bar.Add(1)
	}
	bar.Done()
	sm.Precision, sm.Recall, sm.F1 = jsonFloat(sm.Confusion.precision()), jsonFloat(sm.Confusion.recall()), jsonFloat(sm.Confusion.f1())
	rep.SmallModel = sm

	// Pass 2: the cascade, as the processor runs it (fresh embedding cache).
	var judge *countingJudge
	if lf.enabled() {
		j, err := buildJudge(&lf, sessions, *seed)
		if err != nil {
			return err
		}
		judge = &countingJudge{inner: j}
	}
	batch := 0
	if *aem {
		batch = *aemBatch
	}
	rep.AEMBatch = batch
	det, closeDet, err := newCascade(ctx, b, newCache(enc), judgeOrNil(judge), batch)
	if err != nil {
		return err
	}
	res, err := evaluate(ctx, "coorlog", det, sessions, judge, *window, stderr)
	if cerr := closeDet(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	cs := det.c.Stats()
	rep.Decisions = decisions{Known: cs.Known, Fragile: cs.Fragile, PendingHits: cs.PendingHits, TauAtEnd: det.c.Snapshot().Coordinator.Tau(),
		Held: cs.Held, Corroborated: cs.Corroborated, Contradicted: cs.Contradicted, Expired: cs.Expired, HeldAtEnd: cs.HeldNow, NearHeld: cs.NearHeld}
	if lf.simulated {
		res.TokensNote = "simulated"
	}
	rep.Result = res
	n := float64(max(len(sessions), 1))
	ms := func(d time.Duration) jsonFloat { return jsonFloat(float64(d.Microseconds()) / 1000 / n) }
	rep.StageMs = stageTimes{Encode: ms(tEnc), Coordinator: ms(tCoord), SmallModel: ms(tSmall), Total: res.MsPerSession}
	if judge != nil {
		rep.StageMs.LLM = ms(judge.busy())
	}

	if train != nil {
		for _, bl := range lexicalBaselines(train) {
			st, err := evaluate(ctx, bl.name, bl.det, sessions, nil, 0, stderr)
			if err != nil {
				return err
			}
			rep.Baselines = append(rep.Baselines, st)
		}
	}

	rep.TauCurve = tauSensitivity(rec, smAnom, labels, b.Coordinator.TauAt, tauQuantiles())
	if *plotDir != "" {
		base := strings.TrimSuffix(filepath.Base(*test), filepath.Ext(*test))
		p := filepath.Join(*plotDir, "tau_sensitivity_"+base+".png")
		title := fmt.Sprintf("tau sensitivity (%s)", filepath.Base(*test))
		if err := writeTauPlot(p, title, rep.TauCurve); err != nil {
			return err
		}
		rep.Plots = append(rep.Plots, p)
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printEval(stdout, rep)
	return nil
}

func printEval(w io.Writer, r evalReport) {
	res := r.Result
	c := res.Confusion
	fmt.Fprintf(w, "model %s on %s: %d sessions\n", r.Model, r.Test, res.Sessions)
	fmt.Fprintf(w, "LLM: %s%s\n", r.LLM, map[bool]string{true: "; AEM on", false: ""}[r.AEM])
	fmt.Fprintf(w, "precision %s  recall %s  F1 %s   (anomaly = positive)\n", f3(float64(res.Precision)), f3(float64(res.Recall)), f3(float64(res.F1)))
	fmt.Fprintf(w, "confusion matrix     predicted anomaly  predicted normal\n")
	fmt.Fprintf(w, "  actual anomaly     %17d  %16d\n", c.TP, c.FN)
	fmt.Fprintf(w, "  actual normal      %17d  %16d\n", c.FP, c.TN)
	fmt.Fprintf(w, "evolved (rec error >= tau, %.4g at start, and no LLM-judged session within tau): %s of sessions; routes: %s\n", r.Tau, pct(float64(res.Evolved)), routeList(res.Routes))
	if res.AEMUpdates > 0 || r.AEM {
		fmt.Fprintf(w, "AEM: %d model updates in %.1fs (applied in line every %d LLM findings; not in the per-session time); tau at the end %.4g\n", res.AEMUpdates, res.AEMSeconds, r.AEMBatch, r.Decisions.TauAtEnd)
	}
	d := r.Decisions
	fmt.Fprintf(w, "cascade: %d above tau but next to an LLM-judged session (small model), %d fragile votes (LLM), %d same vector as a pending finding (cache)\n", d.Known, d.Fragile, d.PendingHits)
	if d.Held > 0 {
		fmt.Fprintf(w, "AEM: %d LLM alarms overruled the small model's \"normal\" and waited for corroboration: %d corroborated, %d contradicted, %d expired, %d still held\n", d.Held, d.Corroborated, d.Contradicted, d.Expired, d.HeldAtEnd)
	}
	if res.OnEvolved != nil {
		fmt.Fprintf(w, "F1 on the sessions the injector changed: %s\n", f3(float64(res.OnEvolvedF1)))
	}
	fmt.Fprintf(w, "small model alone: P %s R %s F1 %s\n", f3(float64(r.SmallModel.Precision)), f3(float64(r.SmallModel.Recall)), f3(float64(r.SmallModel.F1)))
	s := r.StageMs
	fmt.Fprintf(w, "mean ms per session: encode %.3f  coordinator %.4f  small model %.4f  llm %.3f  cascade total %.3f\n",
		float64(s.Encode), float64(s.Coordinator), float64(s.SmallModel), float64(s.LLM), float64(s.Total))
	note := ""
	if res.TokensNote != "" {
		note = " (" + res.TokensNote + ")"
	}
	fmt.Fprintf(w, "LLM: %d calls for %d sessions (%d reached the LLM stage, %d answered from the verdict cache); prompt tokens %d, completion tokens %d%s\n",
		res.LLMCalls, res.LLMSessions, res.LLMJudged, res.LLMCached, res.PromptTok, res.CompletionTok, note)
	if res.Errors > 0 {
		fmt.Fprintf(w, "errors: %d sessions could not be scored (counted as normal)\n", res.Errors)
	}
	for _, b := range r.Baselines {
		fmt.Fprintf(w, "baseline %s: P %s R %s F1 %s\n", b.Method, f3(float64(b.Precision)), f3(float64(b.Recall)), f3(float64(b.F1)))
	}
	printKinds(w, "by kind", append([]runStats{r.SmallModel, r.Result}, r.Baselines...))
	for _, p := range r.Plots {
		fmt.Fprintf(w, "plot: %s\n", p)
	}
}
