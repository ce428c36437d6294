package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// The LLM stage of the cascade: a session the coordinator calls evolved (or
// whose small-model vote is fragile) is judged by the Judge, and what it
// says becomes an AEM finding.

// matchPending answers a session with the same vector as one the LLM judged
// and AEM has not learnt yet with that judgement: after the update the
// cascade could not tell the two apart either. (Only the same vector: the
// coordinator's metric, which decides known above, says nothing about
// labels; a session within tau of a pending finding but not the same waits
// for the update to be judged by the small model.)
func (c *Cascade) matchPending(sv []float32, v *Verdict) bool {
	upd := c.aem.Load()
	if upd == nil {
		return false
	}
	id, label, ok := upd.Match(sv)
	held := false
	if !ok && c.held != nil {
		var f evolve.Finding
		if f, held = c.held.match(sv); held {
			id, label, ok = f.ID, f.Label, true
		}
	}
	if !ok {
		return false
	}
	c.st.pendingHits.Add(1)
	v.Route, v.Anomaly, v.Score = RouteCache, label == 1, float64(label)
	v.Reason = fmt.Sprintf("%s %s, judged by the LLM (AEM update pending)", ReasonPendingPrefix, id)
	if held {
		v.Reason = fmt.Sprintf("%s %s, judged by the LLM (held for corroboration)", ReasonPendingPrefix, id)
	}
	return true
}

// judgeSession asks the LLM stage about an evolved session (or one with a
// fragile small-model verdict) and feeds what it learnt to AEM. On failure v
// keeps the small model's verdict.
func (c *Cascade) judgeSession(ctx context.Context, s Session, snap *evolve.Snapshot, sv []float32, hits []smallmodel.Hit, v *Verdict) {
	if c.matchPending(sv, v) {
		return
	}
	upd := c.aem.Load()
	mem := snap.Memory
	smallSays := v.Anomaly // the small model's vote, before the Judge's
	hits = hits[:min(c.k, len(hits))]
	neighbours := make([]Neighbour, len(hits))
	for i, h := range hits {
		it := mem.Item(h.Index)
		// The Judge gets its own slice: memory items are shared and immutable.
		neighbours[i] = Neighbour{ID: it.ID, Lines: slices.Clone(it.Lines), Label: it.Label, Similarity: float64(h.Similarity)}
	}
	t0 := time.Now()
	j, err := c.judge.Judge(ctx, s, neighbours)
	c.st.llmNs.Add(int64(time.Since(t0)))
	c.st.llmCalls.Add(int64(max(j.Calls, 0)))
	c.st.promptTokens.Add(int64(max(j.PromptTokens, 0)))
	c.st.completionTokens.Add(int64(max(j.CompletionTokens, 0)))
	if j.TokensEstimated {
		c.st.tokensEstimated.Store(true)
	}
	if err != nil {
		c.st.judgeErrors.Add(1)
		v.Route, v.Reason = RouteFallback, ReasonLLMError
		if errors.Is(err, context.DeadlineExceeded) {
			v.Reason = ReasonTimeout
		}
		return
	}
	v.Route = RouteLLM
	if j.Cached {
		v.Route = RouteCache
	}
	v.Anomaly, v.Reason = j.Anomaly, j.Reason
	v.Score = min(max(j.Score, 0), 1)
	if math.IsNaN(j.Score) {
		v.Score = 0
		if j.Anomaly {
			v.Score = 1
		}
	}

	// AEM: a fresh judgement (a cached one was submitted when first made).
	if upd == nil || j.Cached {
		return
	}
	label := 0
	if j.Anomaly {
		label = 1
	}
	f := evolve.Finding{ID: s.ID, Vec: sv, Lines: s.Lines, Key: c.contentKey(s), Label: label}
	for _, i := range j.Evolutions {
		if i < 0 || i >= len(hits) {
			continue // the Judge's indices are untrusted input
		}
		it := mem.Item(hits[i].Index)
		f.Relations = append(f.Relations, evolve.Relation{OldID: it.ID, OldVec: it.Vec, OldLabel: it.Label})
	}
	// A "normal" that overrules the small model's alarm corrects its false
	// alarms through the memory, but does not retrain it (Finding.Overruled).
	f.Overruled = !j.Anomaly && smallSays && snap.Small.Trained()
	learn := []evolve.Finding{f}
	if c.held != nil {
		sem := snap.Lexical.Semantic(sv)
		// An alarm overrules the small model only where it has learnt what
		// an anomaly looks like (a learn-mode bundle has not).
		alarm := j.Anomaly && !smallSays && snap.Small.Trained()
		learn = c.held.observe(f, sem, alarm, snap.Coordinator.Distance, snap.Coordinator.Tau(), &c.st)
	}
	for _, f := range learn {
		upd.Submit(f)
		c.st.findings.Add(1)
	}
}
