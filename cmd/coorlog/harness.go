package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
)

// countingJudge wraps the LLM stage and totals what it cost.
type countingJudge struct {
	inner                                                            model.Judge
	mu                                                               sync.Mutex
	calls, prompt, completion, sessions, cached, inherited, failures int
	requested                                                        int // sessions that cost at least one request
	estimated                                                        bool
	busyTime                                                         time.Duration
}

func (c *countingJudge) Judge(ctx context.Context, s model.Session, nb []model.Neighbour) (model.Judgement, error) {
	t0 := time.Now()
	j, err := c.inner.Judge(ctx, s, nb)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busyTime += time.Since(t0)
	c.sessions++
	if err != nil {
		c.failures++
		return j, err
	}
	c.calls += j.Calls
	if j.Calls > 0 {
		c.requested++
	}
	c.prompt += j.PromptTokens
	c.completion += j.CompletionTokens
	c.estimated = c.estimated || j.TokensEstimated
	if j.Cached {
		c.cached++
	}
	if j.Inherited {
		c.inherited++
	}
	return j, nil
}

func (c *countingJudge) busy() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.busyTime
}

// judgeOrNil avoids handing a typed nil to code that tests judge != nil.
func judgeOrNil(c *countingJudge) model.Judge {
	if c == nil {
		return nil
	}
	return c
}

// reset zeroes the counts (e.g. between learn mode's review and the test run,
// which share one judge).
func (c *countingJudge) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.prompt, c.completion, c.sessions, c.cached, c.inherited, c.failures, c.requested = 0, 0, 0, 0, 0, 0, 0, 0
	c.estimated, c.busyTime = false, 0
}

func (c *countingJudge) snapshot() (calls, prompt, completion int) {
	if c == nil {
		return 0, 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.prompt, c.completion
}

// runStats is what one method did on one test set.
type runStats struct {
	Method    string         `json:"method"`
	Sessions  int            `json:"sessions"`
	Confusion confusion      `json:"confusion"`
	Precision jsonFloat      `json:"precision"`
	Recall    jsonFloat      `json:"recall"`
	F1        jsonFloat      `json:"f1"`
	Routes    map[string]int `json:"routes"`
	// Evolved is the share of sessions the coordinator marked evolved.
	Evolved jsonFloat `json:"evolved_share"`
	// OnEvolved is F1 on the sessions the injector changed (ground truth of
	// the evolution), when the test set carries that attribute.
	OnEvolved      *confusion `json:"confusion_on_injected_evolution,omitempty"`
	OnEvolvedF1    jsonFloat  `json:"f1_on_injected_evolution"`
	Errors         int        `json:"errors"`
	MsPerSession   jsonFloat  `json:"ms_per_session"`
	LLMCalls       int        `json:"llm_calls"`
	LLMJudged      int        `json:"llm_sessions_judged"` // reached the LLM stage (cache hits included)
	LLMSessions    int        `json:"llm_sessions"`        // cost at least one LLM request
	LLMCached      int        `json:"llm_cache_hits"`
	PromptTok      int        `json:"prompt_tokens"`
	CompletionTok  int        `json:"completion_tokens"`
	TokensNote     string     `json:"tokens_note,omitempty"` // "simulated" / "estimated"
	AllocKB        jsonFloat  `json:"alloc_kb_per_session"`  // Go heap allocated per session (libtorch excluded)
	AEMUpdates     int        `json:"aem_updates"`
	AEMSeconds     float64    `json:"aem_update_seconds"` // not in ms_per_session
	CallsPerWindow []int      `json:"llm_calls_per_window,omitempty"`
	Window         int        `json:"window,omitempty"`
	// ByKind is the verdicts per attributes.kind, when the test set has it.
	ByKind map[string]*kindStats `json:"by_kind,omitempty"`
}

// evaluate runs det over sessions in order (a stream: AEM may learn as it
// goes), with a progress bar, and totals the verdicts. judge may be nil.
func evaluate(ctx context.Context, name string, det model.Detector, sessions []dataset.Session, judge *countingJudge, window int, stderr io.Writer) (runStats, error) {
	st := runStats{Method: name, Sessions: len(sessions), Routes: map[string]int{}, Window: window}
	var onEvolved confusion
	injected := false
	evolved := 0
	bar := newProgress(stderr, name, len(sessions))
	var busy time.Duration
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	prevCalls := 0
	for i, s := range sessions {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("%s: %w", name, err)
		}
		t0 := time.Now()
		v, err := det.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		busy += time.Since(t0)
		if err != nil {
			if ctx.Err() != nil {
				return st, fmt.Errorf("%s: %w", name, ctx.Err())
			}
			// A failed session counts as a "normal" verdict (what a pipeline
			// that passes records through would do) and is reported.
			st.Errors++
			v = model.Verdict{Route: "error"}
		}
		st.Confusion.add(s.Label, v.Anomaly)
		st.addKind(s, v.Anomaly)
		st.Routes[string(v.Route)]++
		if v.Evolved {
			evolved++
		}
		if s.Attributes[dataset.EvolutionAttr] != "" {
			injected = true
			onEvolved.add(s.Label, v.Anomaly)
		}
		// Full windows, and a last partial one only when it holds at least
		// half a window (a tiny tail would make a meaningless rate).
		if window > 0 && ((i+1)%window == 0 || (i == len(sessions)-1 && (i+1)%window >= (window+1)/2)) {
			calls, _, _ := judge.snapshot()
			st.CallsPerWindow = append(st.CallsPerWindow, calls-prevCalls)
			prevCalls = calls
		}
		bar.Add(1)
	}
	bar.Done()
	runtime.ReadMemStats(&m1)
	st.AllocKB = jsonFloat(float64(m1.TotalAlloc-m0.TotalAlloc) / 1024 / float64(max(len(sessions), 1)))
	st.Precision, st.Recall, st.F1 = jsonFloat(st.Confusion.precision()), jsonFloat(st.Confusion.recall()), jsonFloat(st.Confusion.f1())
	st.Evolved = jsonFloat(ratio(evolved, len(sessions)))
	st.OnEvolvedF1 = jsonFloat(onEvolved.f1())
	if injected {
		st.OnEvolved = &onEvolved
	}
	// AEM updates run in the background in the processor; here they run in
	// line (deterministic), so their time is reported apart.
	if a, ok := det.(interface{ aemStats() (int, float64) }); ok {
		st.AEMUpdates, st.AEMSeconds = a.aemStats()
		busy -= time.Duration(st.AEMSeconds * float64(time.Second))
	}
	st.MsPerSession = jsonFloat(float64(busy.Microseconds()) / 1000 / float64(max(len(sessions), 1)))
	if judge != nil {
		judge.mu.Lock()
		st.LLMCalls, st.PromptTok, st.CompletionTok, st.LLMJudged = judge.calls, judge.prompt, judge.completion, judge.sessions
		st.LLMSessions, st.LLMCached = judge.requested, judge.cached
		if judge.estimated {
			st.TokensNote = "estimated"
		}
		judge.mu.Unlock()
	}
	return st, nil
}

func routeList(r map[string]int) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%s=%d", k, r[k])
	}
	return out
}

// printTable writes one row per run.
func printTable(w io.Writer, title string, runs []runStats) {
	fmt.Fprintf(w, "\n%s\n", title)
	fmt.Fprintf(w, "%-26s %6s %6s %6s %5s %5s %5s %6s %8s %8s %9s %11s %10s %8s %8s\n",
		"method", "P", "R", "F1", "TP", "FP", "FN", "TN", "evolved", "LLM sess", "LLM calls", "prompt tok", "compl tok", "ms/sess", "KB/sess")
	for _, r := range runs {
		note := ""
		if r.TokensNote != "" {
			note = " (" + r.TokensNote + ")"
		}
		if r.AEMUpdates > 0 {
			note += fmt.Sprintf(" [AEM: %d updates, %.1fs]", r.AEMUpdates, r.AEMSeconds)
		}
		fmt.Fprintf(w, "%-26s %6s %6s %6s %5d %5d %5d %6d %8s %8d %9d %11d %10d %8.3f %8.1f%s\n",
			r.Method, f3(float64(r.Precision)), f3(float64(r.Recall)), f3(float64(r.F1)),
			r.Confusion.TP, r.Confusion.FP, r.Confusion.FN, r.Confusion.TN,
			pct(float64(r.Evolved)), r.LLMSessions, r.LLMCalls, r.PromptTok, r.CompletionTok, float64(r.MsPerSession), float64(r.AllocKB), note)
	}
}

func f3(v float64) string {
	if v != v {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", v)
}

func pct(v float64) string {
	if v != v {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}
