package llm

import "sync/atomic"

// Stats are cumulative counters since New, for telemetry. Safe to read
// while judging; the fields are read one by one, not as one snapshot.
type Stats struct {
	Sessions         int64 // Judge calls
	CacheHits        int64 // answered from the verdict cache (no request)
	Inherited        int64 // answered by label inheritance after Evol Detect
	CertainPrompts   int64 // AD agent questions with the certain prompt
	UncertainPrompts int64 // AD agent questions with the uncertain prompt
	Failures         int64 // Judge calls that returned an error (the cascade falls back)

	Requests         int64 // HTTP attempts, failed ones included
	Calls            int64 // requests answered by the model (billable)
	Retries          int64 // attempts repeated after a retryable failure
	Repairs          int64 // follow-ups sent after an invalid answer
	PromptTokens     int64
	CompletionTokens int64
	EstimatedCalls   int64 // answered calls whose usage was estimated (chars/4)

	// Errors counts failed attempts and rejected answers by kind (one Judge
	// failure after three 500s counts server_error 3 times).
	Errors map[ErrorKind]int64
}

// counters is the live, lock-free form of Stats.
type counters struct {
	sessions, cacheHits, inherited, certain, uncertain, failures     atomic.Int64
	requests, calls, retries, repairs, promptTok, complTok, estCalls atomic.Int64
	errs                                                             [len(kindIndex)]atomic.Int64
}

var kindIndex = [...]ErrorKind{KindTimeout, KindRateLimited, KindServerError, KindAuth, KindClientError,
	KindNetwork, KindInvalidResponse, KindBudget, KindCanceled}

func (c *counters) errorOf(k ErrorKind) {
	for i, kk := range kindIndex {
		if kk == k {
			c.errs[i].Add(1)
			return
		}
	}
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Sessions: c.sessions.Load(), CacheHits: c.cacheHits.Load(), Inherited: c.inherited.Load(),
		CertainPrompts: c.certain.Load(), UncertainPrompts: c.uncertain.Load(), Failures: c.failures.Load(),
		Requests: c.requests.Load(), Calls: c.calls.Load(), Retries: c.retries.Load(), Repairs: c.repairs.Load(),
		PromptTokens: c.promptTok.Load(), CompletionTokens: c.complTok.Load(), EstimatedCalls: c.estCalls.Load(),
		Errors: make(map[ErrorKind]int64, len(kindIndex)),
	}
	for i, k := range kindIndex {
		s.Errors[k] = c.errs[i].Load()
	}
	return s
}
