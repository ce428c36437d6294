package model

import (
	"sync"

	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// AEM's blast radius. What AEM learns from one LLM answer reaches far past
// its session: the coordinator is fine-tuned on it, so the sessions around it
// stop being evolved and go to the small model, and the small model votes
// with the answer's label among its neighbours. One wrong answer thus
// becomes the verdict of a whole region (measured on the NATS upgrade through
// the collector: 2 wrong answers on `headers` sessions, 62 false alarms after
// the next update). An alarm that overrules the small model's "normal" (a
// surprise) is held here until an LLM answer about another content in the
// same region (within tau in the coordinator's metric) agrees with it; only
// then does AEM learn it. Meanwhile the sessions near it go to the Judge
// (Cascade.detect): those within tau of it, and those whose small-model vote
// it would turn were it learnt (wouldTurn), where a wrong alarm would have
// spread. Their answers are learnt (or held) in their own right, so what
// AEM learns of the region does not rest on one answer; those within tau
// also corroborate the alarm, or discard it when they give the other label. A held alarm is still the
// verdict of its own session, and of later sessions with its very vector
// (route cache), as a pending finding is.
//
// Answers that agree with the small model, and "normal" answers that
// overrule it, are learnt at once: the latter correct the small model's own
// false alarms. Measured on NATS v2.8.4 -> v2.14.0 (BENCHMARKS.md, "AEM's
// blast radius"): content-correlated errors at 0.95, F1 0.974 -> 0.986 over
// three seeds (0.991 with wouldTurn); holding both directions 0.983; holding
// alarms without asking about the sessions near them: no alarm was ever
// corroborated.

// maxHeld bounds the alarms waiting for corroboration; the oldest is
// dropped (not learnt) when a new one arrives at the bound.
const maxHeld = 256

// corroboration holds the surprising LLM alarms. Safe for concurrent use.
type corroboration struct {
	mu   sync.Mutex
	held []heldFinding // oldest first
}

type heldFinding struct {
	f   evolve.Finding
	sem []float32 // the semantic half of f.Vec, the coordinator's input

	proj   []float32         // f.Vec projected by projBy
	projBy *smallmodel.Model // the small model of proj
}

// same reports whether v is the held finding's vector (its very content).
func (h *heldFinding) same(v []float32) bool {
	return vec.Cosine(v, h.f.Vec) >= smallmodel.SameVectorCosine
}

// observe takes a fresh LLM finding f (sem: its semantic half) and returns
// the findings AEM may learn now: the held ones it corroborates, and f itself
// unless it is a surprise without corroboration, which is held. dist is the
// coordinator's metric with its threshold tau.
func (c *corroboration) observe(f evolve.Finding, sem []float32, surprise bool, dist func(a, b []float32) float64, tau float64, st *counters) []evolve.Finding {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []evolve.Finding
	kept := c.held[:0]
	for _, h := range c.held {
		if h.f.ID == f.ID || dist(sem, h.sem) >= tau {
			kept = append(kept, h)
			continue
		}
		switch {
		case h.f.Label != f.Label:
			st.contradicted.Add(1) // discarded: two answers disagree about the region
		case h.same(f.Vec):
			kept = append(kept, h) // the same content again: no second opinion
		default:
			st.corroborated.Add(1)
			out = append(out, h.f)
		}
	}
	clear(c.held[len(kept):])
	c.held = kept
	if surprise && len(out) == 0 {
		if len(c.held) >= maxHeld {
			c.held[0] = heldFinding{}
			c.held = c.held[1:]
			st.expired.Add(1)
		}
		c.held = append(c.held, heldFinding{f: f, sem: sem})
		st.held.Add(1)
		return nil
	}
	return append(out, f)
}

// match returns the held finding with the same vector as v, if any.
func (c *corroboration) match(v []float32) (evolve.Finding, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.held) - 1; i >= 0; i-- {
		if c.held[i].same(v) {
			return c.held[i].f, true
		}
	}
	return evolve.Finding{}, false
}

// near reports whether a held finding of another content (v is the session
// vector, sem its semantic half) lies within tau of sem.
func (c *corroboration) near(sem, v []float32, dist func(a, b []float32) float64, tau float64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.held {
		if dist(sem, h.sem) < tau && !h.same(v) {
			return true
		}
	}
	return false
}

// wouldTurn reports whether a held alarm of another content, were it in the
// memory, would turn the vote of a session (p: its projection by small, v:
// its vector, voting: its voting neighbours, weakest last) to anomalous: it
// would displace the weakest voter, and the similarity-weighted share of
// anomalous labels would reach the threshold (smallmodel.Memory.Vote).
// Measured on NATS v2.8.4 -> v2.14.0 with content-correlated errors at 0.95:
// F1 0.986 -> 0.991 and LLM sessions 5.3% -> 4.8% against the tau rule
// alone (corroborated alarms are learnt sooner, and AEM then keeps their
// region off the LLM); asking whenever the alarm would merely be among the
// voters sent 6-8% of the sessions to the LLM.
func (c *corroboration) wouldTurn(p, v []float32, mem *smallmodel.Memory, voting []smallmodel.Hit, small *smallmodel.Model) bool {
	return c.turns(p, v, voting, func(i int) int { return mem.Item(i).Label }, mem.Config().Threshold, small)
}

// turns is wouldTurn with the memory's labels and threshold given apart.
func (c *corroboration) turns(p, v []float32, voting []smallmodel.Hit, label func(index int) int, threshold float64, small *smallmodel.Model) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(voting) == 0 || len(c.held) == 0 {
		return false
	}
	var w, a float64 // the vote without its weakest voter
	for _, h := range voting[:len(voting)-1] {
		s := max(float64(h.Similarity), 0)
		w += s
		a += s * float64(label(h.Index))
	}
	worst := voting[len(voting)-1].Similarity
	for i := range c.held {
		h := &c.held[i]
		if h.projBy != small {
			h.proj, h.projBy = small.Project(h.f.Vec), small
		}
		sim := vec.Dot(p, h.proj)
		if !(sim > worst) || h.same(v) {
			continue
		}
		s := max(float64(sim), 0)
		if w+s > 0 && (a+s*float64(h.f.Label))/(w+s) >= threshold {
			return true
		}
	}
	return false
}

// len is the number of held findings.
func (c *corroboration) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held)
}
