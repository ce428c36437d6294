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
// then does AEM learn it. Meanwhile the sessions within tau of it go to the
// Judge (Cascade.detect), which is where that answer comes from. An answer
// within tau with the other label discards it. A held alarm is still the
// verdict of its own session, and of later sessions with its very vector
// (route cache), as a pending finding is.
//
// Answers that agree with the small model, and "normal" answers that
// overrule it, are learnt at once: the latter correct the small model's own
// false alarms. Measured on NATS v2.8.4 -> v2.14.0 (BENCHMARKS.md, "AEM's
// blast radius"): content-correlated errors at 0.95, F1 0.974 -> 0.986 over
// three seeds; holding both directions 0.983; holding alarms without asking
// about the sessions near them: no alarm was ever corroborated.

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
}

// corroborationStats are its counters (see Stats).
type corroborationStats struct {
	held, corroborated, contradicted, expired uint64
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
		case vec.Cosine(f.Vec, h.f.Vec) >= smallmodel.SameVectorCosine:
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
		if vec.Cosine(v, c.held[i].f.Vec) >= smallmodel.SameVectorCosine {
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
		if dist(sem, h.sem) < tau && vec.Cosine(v, h.f.Vec) < smallmodel.SameVectorCosine {
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
