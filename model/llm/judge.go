package llm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/coorlog/coorlogprocessor/internal/cut"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/coorlog/coorlogprocessor/model/core"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// Judge is the LLM stage: Evol-CoT over an OpenAI-compatible endpoint (New)
// or over the simulated LLM (NewSimulated). It implements core.Judge and is
// safe for concurrent use.
//
// For one evolved session it
//  1. answers from the verdict cache when the session's normalised template
//     sequence was judged before (Cached, no request);
//  2. asks Evol Detect about each of the TopK most similar neighbours
//     (concurrently, one request each): is the session an evolution of it?
//  3. inherits the label when at least one neighbour was judged an evolution
//     and all such neighbours carry the same label (Inherited);
//  4. otherwise asks the AD agent, with the certain prompt when the
//     similarity-weighted uncertainty (see Uncertainty) is at most
//     Config.UncertaintyThreshold, else with the uncertain prompt that shows
//     similar abnormal and normal sessions side by side.
//
// Every answer must match its JSON schema exactly; an invalid answer gets one
// repair follow-up, then the call fails with ErrInvalidResponse. Any error
// means "no usable answer": the cascade falls back to the small model and
// marks the route as fallback. The Judgement returned with an error still
// carries the requests and tokens spent.
type Judge struct {
	cfg      Config
	backend  backend
	red      *redactor
	prompts  *prompter
	cache    *verdictCache // nil when disabled
	cacheKey func([]string) string
	stats    *counters
	log      *slog.Logger
	label    string // how reasons start: "llm" or "simulated LLM (...)"
	version  string
}

// New validates cfg and returns a Judge that talks to cfg.BaseURL.
func New(cfg Config) (*Judge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	j, err := newJudge(cfg, "llm")
	if err != nil {
		return nil, err
	}
	j.backend = newOpenAIBackend(cfg, j.stats, j.log)
	return j, nil
}

func newJudge(cfg Config, label string) (*Judge, error) {
	red, err := newRedactor(cfg)
	if err != nil {
		return nil, fmt.Errorf("llm: %w", err)
	}
	p, err := newPrompter(cfg.MaxLineBytes)
	if err != nil {
		return nil, fmt.Errorf("llm: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	j := &Judge{cfg: cfg, red: red, prompts: p, stats: &counters{}, log: log, label: label,
		cacheKey: cfg.CacheKey, version: cfg.Model + "+" + PromptVersion}
	if j.cacheKey == nil {
		j.cacheKey = normalize.TemplateKey
	}
	if cfg.CacheSize > 0 {
		j.cache = newVerdictCache(cfg.CacheSize)
	}
	return j, nil
}

// Version identifies model and prompt set ("<model>+evolcot-v1"), for
// Verdict.ModelVersion.
func (j *Judge) Version() string { return j.version }

// Stats returns the cumulative counters.
func (j *Judge) Stats() Stats { return j.stats.snapshot() }

// Judge implements core.Judge. neighbours are the kNN memory's sessions in
// any order; Judgement.Evolutions indexes this slice.
func (j *Judge) Judge(ctx context.Context, s core.Session, neighbours []core.Neighbour) (core.Judgement, error) {
	j.stats.sessions.Add(1)
	if err := ctx.Err(); err != nil {
		return j.fail(core.Judgement{}, &Error{Kind: KindCanceled, Op: "judge", ctxErr: err})
	}
	if j.cache == nil {
		jd, err := j.judge(ctx, s, neighbours)
		if err != nil {
			return j.fail(jd, err)
		}
		return jd, nil
	}
	key := cacheKeyOf(normalize.SessionKey(s.Lines, s.Templates, j.cacheKey))
	cached, hit, owner, err := j.cache.acquire(ctx, key)
	if err != nil {
		return j.fail(core.Judgement{}, &Error{Kind: KindCanceled, Op: "judge: waiting for an identical session", ctxErr: err})
	}
	if hit {
		j.stats.cacheHits.Add(1)
		cached.Cached = true
		return cached, nil
	}
	jd, err := j.judge(ctx, s, neighbours)
	if owner {
		stored := jd
		// A hit is about a different session with different neighbours:
		// it carries the verdict, not this session's relations or costs.
		stored.Evolutions, stored.Inherited = nil, false
		stored.Calls, stored.PromptTokens, stored.CompletionTokens, stored.TokensEstimated = 0, 0, 0, false
		j.cache.release(key, stored, err == nil)
	}
	if err != nil {
		return j.fail(jd, err)
	}
	return jd, nil
}

func (j *Judge) fail(jd core.Judgement, err error) (core.Judgement, error) {
	j.stats.failures.Add(1)
	level := slog.LevelWarn
	var e *Error
	if errors.As(err, &e) && e.Kind == KindCanceled {
		j.stats.errorOf(KindCanceled)
		level = slog.LevelDebug // shutdown: expected, not worth a warning per session
	}
	j.log.LogAttrs(context.Background(), level, "llm judgement failed; the cascade falls back",
		slog.String("kind", string(KindOf(err))), slog.String("error", err.Error()))
	return jd, err
}

// ranked is a neighbour with its index in the caller's slice and its
// redacted lines.
type ranked struct {
	idx   int
	n     core.Neighbour
	lines []string
}

func (j *Judge) judge(ctx context.Context, s core.Session, neighbours []core.Neighbour) (core.Judgement, error) {
	var jd core.Judgement
	session := j.red.redactAll(s.Lines)
	order := make([]ranked, len(neighbours))
	for i, n := range neighbours {
		order[i] = ranked{idx: i, n: n}
	}
	// Most similar first; ties by index so prompts are reproducible.
	slices.SortStableFunc(order, func(a, b ranked) int { return cmp.Compare(b.n.Similarity, a.n.Similarity) })
	// Redact only the neighbours that can reach a prompt: the TopK and, for
	// the uncertain prompt, the most similar examples of each label.
	abnLeft, norLeft := j.cfg.UncertainExamples, j.cfg.UncertainExamples
	for i := range order {
		use := i < j.cfg.TopK
		if order[i].n.Label != 0 && abnLeft > 0 {
			abnLeft, use = abnLeft-1, true
		} else if order[i].n.Label == 0 && norLeft > 0 {
			norLeft, use = norLeft-1, true
		}
		if use {
			order[i].lines = j.red.redactAll(order[i].n.Lines)
		}
	}
	top := order[:min(j.cfg.TopK, len(order))]

	// Evol Detect: one question per top neighbour, concurrently.
	type result struct {
		evolution bool
		reason    string
		use       usage
		err       error
	}
	results := make([]result, len(top))
	dctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, nb := range top {
		wg.Go(func() {
			msgs, err := j.prompts.render(promptEvolDetect, taskVars{ReferenceLabel: labelName(nb.n.Label)}, []section{
				{Title: "NEW SESSION", Lines: session, MaxLines: j.cfg.MaxSessionLines, MaxBytes: j.cfg.MaxSessionBytes},
				{Title: "REFERENCE SESSION (label: " + labelName(nb.n.Label) + ")", Lines: nb.lines, MaxLines: j.cfg.MaxNeighbourLines, MaxBytes: j.cfg.MaxNeighbourBytes},
			})
			if err != nil {
				results[i].err = err
				cancel()
				return
			}
			q := &question{Op: fmt.Sprintf("evol detect (neighbour %d)", nb.idx), Kind: promptEvolDetect, Messages: msgs,
				SessionID: s.ID, ReferenceLabel: nb.n.Label}
			a, use, err := j.ask(dctx, q)
			results[i] = result{evolution: a.Yes, reason: a.Reason, use: use, err: err}
			if err != nil {
				cancel() // the session falls back anyway: stop the siblings
			}
		})
	}
	wg.Wait()
	cancel()
	for _, r := range results {
		r.use.addTo(&jd)
	}
	// The first real failure, not the cancellations it caused in siblings.
	if err := firstCause(results, func(r result) error { return r.err }); err != nil {
		return jd, err
	}
	var evolutions []ranked
	var firstReason string
	for i, r := range results {
		if r.evolution {
			evolutions = append(evolutions, top[i])
			if firstReason == "" {
				firstReason = r.reason
			}
		}
	}

	if len(evolutions) > 0 && sameLabel(evolutions) {
		label := evolutions[0].n.Label
		for _, e := range evolutions {
			jd.Evolutions = append(jd.Evolutions, e.idx)
		}
		slices.Sort(jd.Evolutions)
		jd.Inherited = true
		jd.Anomaly = label != 0
		jd.Score = boolScore(jd.Anomaly)
		jd.Reason = cleanReason(fmt.Sprintf("%s %s evol_detect: inherited %s from %d of %d reference sessions judged evolutions: %s",
			j.label, PromptVersion, labelName(label), len(evolutions), len(top), firstReason), j.cfg.MaxReasonBytes)
		j.stats.inherited.Add(1)
		return jd, nil
	}

	// AD agent.
	u, p := Uncertainty(neighbours)
	kind := promptADCertain
	if u > j.cfg.UncertaintyThreshold || len(neighbours) == 0 {
		kind = promptADUncertain
	}
	vars := taskVars{Uncertainty: fmt.Sprintf("%.2f", u)}
	var secs []section
	secs = append(secs, section{Title: "NEW SESSION", Lines: session, MaxLines: j.cfg.MaxSessionLines, MaxBytes: j.cfg.MaxSessionBytes})
	ref := func(title string, r ranked) section {
		return section{Title: fmt.Sprintf("%s (label: %s, similarity %.2f)", title, labelName(r.n.Label), r.n.Similarity),
			Lines: r.lines, MaxLines: j.cfg.MaxNeighbourLines, MaxBytes: j.cfg.MaxNeighbourBytes}
	}
	if kind == promptADCertain {
		j.stats.certain.Add(1)
		vars.Majority = "normal"
		if p > 0.5 {
			vars.Majority = "abnormal"
		}
		for i, r := range top {
			secs = append(secs, ref(fmt.Sprintf("SIMILAR SESSION %d", i+1), r))
		}
	} else {
		j.stats.uncertain.Add(1)
		var abn, nor []ranked
		for _, r := range order {
			if r.n.Label != 0 && len(abn) < j.cfg.UncertainExamples {
				abn = append(abn, r)
			} else if r.n.Label == 0 && len(nor) < j.cfg.UncertainExamples {
				nor = append(nor, r)
			}
		}
		// Side by side: abnormal 1, normal 1, abnormal 2, normal 2, ...
		for i := 0; i < max(len(abn), len(nor)); i++ {
			if i < len(abn) {
				secs = append(secs, ref(fmt.Sprintf("SIMILAR ABNORMAL SESSION %d", i+1), abn[i]))
			}
			if i < len(nor) {
				secs = append(secs, ref(fmt.Sprintf("SIMILAR NORMAL SESSION %d", i+1), nor[i]))
			}
		}
		vars.HaveExamples = len(abn)+len(nor) > 0
	}
	msgs, err := j.prompts.render(kind, vars, secs)
	if err != nil {
		return jd, err
	}
	a, use, err := j.ask(ctx, &question{Op: "ad agent (" + kind.String() + ")", Kind: kind, Messages: msgs, SessionID: s.ID})
	use.addTo(&jd)
	if err != nil {
		return jd, err
	}
	jd.Anomaly = a.Yes
	jd.Score = boolScore(a.Yes)
	// Relations consistent with the final verdict, for the AEM to learn.
	for _, e := range evolutions {
		if (e.n.Label != 0) == jd.Anomaly {
			jd.Evolutions = append(jd.Evolutions, e.idx)
		}
	}
	slices.Sort(jd.Evolutions)
	jd.Reason = cleanReason(fmt.Sprintf("%s %s %s (uncertainty %.2f): %s", j.label, PromptVersion, kind, u, a.Reason), j.cfg.MaxReasonBytes)
	return jd, nil
}

// usage is what one question cost.
type usage struct {
	calls, prompt, completion int
	estimated                 bool
}

func (u usage) addTo(jd *core.Judgement) {
	jd.Calls += u.calls
	jd.PromptTokens += u.prompt
	jd.CompletionTokens += u.completion
	jd.TokensEstimated = jd.TokensEstimated || u.estimated
}

// ask sends q and validates the answer; one repair follow-up after an
// invalid answer, then ErrInvalidResponse.
func (j *Judge) ask(ctx context.Context, q *question) (answer, usage, error) {
	var use usage
	for try := 0; ; try++ {
		r, err := j.backend.complete(ctx, q)
		if err != nil {
			return answer{}, use, err
		}
		use.calls++
		j.stats.calls.Add(1)
		p, c := r.PromptTokens, r.CompletionTokens
		if !r.UsageReported {
			p, c = messagesTokens(q.Messages), estimateTokens(r.Content)
			use.estimated = true
			j.stats.estCalls.Add(1)
		}
		use.prompt += p
		use.completion += c
		j.stats.promptTok.Add(int64(p))
		j.stats.complTok.Add(int64(c))

		a, perr := parseAnswer(q.Kind.answer(), r.Content)
		if perr == nil {
			return a, use, nil
		}
		j.stats.errorOf(KindInvalidResponse)
		problem := problemOf(perr)
		if r.CutOff {
			problem = "it was cut off at the length limit; keep \"reason\" to a few short sentences"
		}
		if try == 1 {
			return answer{}, use, &Error{Kind: KindInvalidResponse, Op: q.Op, detail: "still invalid after one repair: " + problem}
		}
		fix, err := j.prompts.repair(q.Kind.answer(), problem)
		if err != nil {
			return answer{}, use, err
		}
		j.stats.repairs.Add(1)
		j.log.LogAttrs(ctx, slog.LevelDebug, "llm answer invalid; asking once more", slog.String("op", q.Op),
			slog.String("problem", problem))
		// Echo the rejected answer (bounded) so the model sees what to fix.
		prev := cut.UTF8(r.Content, 2048)
		q = &question{Op: q.Op + " repair", Kind: q.Kind, SessionID: q.SessionID, ReferenceLabel: q.ReferenceLabel,
			Messages: append(slices.Clone(q.Messages), message{Role: "assistant", Content: prev}, message{Role: "user", Content: fix})}
	}
}

// problemOf is our description of a schema failure (never the model's text).
func problemOf(err error) string {
	msg := err.Error()
	if i := len(errSchema.Error()) + 2; len(msg) > i {
		return msg[i:]
	}
	return msg
}

func firstCause[T any](rs []T, errOf func(T) error) error {
	var canceled error
	for _, r := range rs {
		err := errOf(r)
		if err == nil {
			continue
		}
		if KindOf(err) != KindCanceled {
			return err
		}
		if canceled == nil {
			canceled = err
		}
	}
	return canceled
}

func sameLabel(rs []ranked) bool {
	for _, r := range rs[1:] {
		if (r.n.Label != 0) != (rs[0].n.Label != 0) {
			return false
		}
	}
	return true
}

func labelName(l int) string {
	if l != 0 {
		return "abnormal"
	}
	return "normal"
}

func boolScore(anomaly bool) float64 {
	if anomaly {
		return 1
	}
	return 0
}
