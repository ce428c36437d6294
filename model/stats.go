package model

import (
	"sync/atomic"
	"time"
)

// Stats are the cascade's cumulative counters.
type Stats struct {
	Sessions  uint64 // Detect and DetectFast calls
	Evolved   uint64 // sessions the coordinator marked evolved
	Anomalies uint64 // sessions judged anomalous
	Routes    map[Route]uint64

	// Cumulative time per stage (divide by Sessions, or by Routes[RouteLLM]
	// + Routes[RouteCache] for the LLM stage, for means).
	Encode, Coordinator, SmallModel, LLM time.Duration

	LLMCalls         uint64 // requests the Judge reported
	PromptTokens     uint64
	CompletionTokens uint64
	TokensEstimated  bool   // some token counts were estimated, not reported by the endpoint
	JudgeErrors      uint64 // Judge failures (answered by the small model, route fallback)
	FastPath         uint64 // evolved sessions DetectFast kept from the LLM
	Findings         uint64 // findings submitted to AEM
	Fragile          uint64 // sessions below tau sent to the Judge because their kNN verdict was fragile
	PendingHits      uint64 // evolved sessions answered from a pending AEM finding with the same vector (route cache)
	Known            uint64 // sessions above tau routed as not evolved because an LLM-judged memory session lies within tau
	Repeats          uint64 // sessions read from the content memo: a session of the same content was read on the same snapshot

	// LLM alarms that overruled the small model (corroborate.go): held
	// until another content agrees, corroborated (then learnt), contradicted
	// by an answer with the other label, or expired unlearnt at the bound;
	// Held now is how many wait. NearHeld counts the sessions below tau
	// sent to the Judge because a held answer lies within tau.
	Held, Corroborated, Contradicted, Expired, NearHeld uint64
	HeldNow                                             int
}

// Stats returns a consistent-enough copy of the counters (each counter is
// read atomically; they are not read at one instant).
func (c *Cascade) Stats() Stats {
	s := c.st.snapshot()
	if c.held != nil {
		s.HeldNow = c.held.len()
	}
	return s
}

type counters struct {
	sessions, evolved, anomalies              atomic.Uint64
	small, llm, cache, fallback               atomic.Uint64
	encodeNs, coordNs, smallNs, llmNs         atomic.Int64
	llmCalls, promptTokens, completionTokens  atomic.Int64
	tokensEstimated                           atomic.Bool
	judgeErrors, fastPath, findings           atomic.Uint64
	fragile, pendingHits, known               atomic.Uint64
	held, corroborated, contradicted, expired atomic.Uint64
	nearHeld, repeats                         atomic.Uint64
}

func (c *counters) route(r Route) {
	switch r {
	case RouteSmallModel:
		c.small.Add(1)
	case RouteLLM:
		c.llm.Add(1)
	case RouteCache:
		c.cache.Add(1)
	default:
		c.fallback.Add(1)
	}
}

func (c *counters) snapshot() Stats {
	return Stats{
		Sessions: c.sessions.Load(), Evolved: c.evolved.Load(), Anomalies: c.anomalies.Load(),
		Routes: map[Route]uint64{RouteSmallModel: c.small.Load(), RouteLLM: c.llm.Load(), RouteCache: c.cache.Load(), RouteFallback: c.fallback.Load()},
		Encode: time.Duration(c.encodeNs.Load()), Coordinator: time.Duration(c.coordNs.Load()),
		SmallModel: time.Duration(c.smallNs.Load()), LLM: time.Duration(c.llmNs.Load()),
		LLMCalls: uint64(c.llmCalls.Load()), PromptTokens: uint64(c.promptTokens.Load()), CompletionTokens: uint64(c.completionTokens.Load()),
		TokensEstimated: c.tokensEstimated.Load(), JudgeErrors: c.judgeErrors.Load(), FastPath: c.fastPath.Load(), Findings: c.findings.Load(), Fragile: c.fragile.Load(), PendingHits: c.pendingHits.Load(), Known: c.known.Load(), Repeats: c.repeats.Load(),
		Held: c.held.Load(), Corroborated: c.corroborated.Load(), Contradicted: c.contradicted.Load(), Expired: c.expired.Load(), NearHeld: c.nearHeld.Load(),
	}
}
