package llm

import (
	"context"
	"fmt"
	"math"

	"github.com/coorlog/coorlogprocessor/internal/simdraw"
	"github.com/coorlog/coorlogprocessor/model/core"
)

// NewSimulated returns a Judge that answers from the true labels instead of
// an endpoint, for measuring routing, cost and the AEM without an LLM
// (`coorlog eval --llm simulated:ACC`). It runs the same Evol-CoT flow as
// New (verdict cache, Evol Detect on the TopK neighbours, inheritance, the
// certain/uncertain AD prompts, schema validation), with DefaultConfig.
//
// Per session it decides once whether it is "right" (probability accuracy,
// from a hash of seed and Session.ID, so the outcome does not depend on
// order or concurrency) and then answers consistently with that verdict v:
// Evol Detect says "evolution" exactly for neighbours labelled v, so the
// session inherits v when such a neighbour is among the TopK, and the AD
// agent answers v otherwise. Calls and tokens are those of the prompts it
// would have sent (rendered for real, counted as chars/4, TokensEstimated).
// Every Reason starts with "simulated LLM". A session missing from labels
// gets an error (the cascade falls back). The dynamic type is *Judge (for
// Stats and Version).
func NewSimulated(labels map[string]int, accuracy float64, seed int64) core.Judge {
	return newSimulated(labels, nil, accuracy, seed)
}

// NewSimulatedContent is NewSimulated with content-correlated errors
// (`--llm simulated-content:ACC`): the right/wrong draw is made per session
// content (contents maps a session ID to its normalize.ContentKey) instead of
// per session, so every session of a content judged wrong is answered wrong,
// and about a share 1-accuracy of the distinct contents are. Real models err
// by content, not by coin flip, and AEM spreads such an error to every
// session of that content. Sessions of one content always get the same
// answer when they share a label; a content whose sessions carry both labels
// (the set ignores order and counts) is wrong, or right, for all of them. A
// session missing from labels or contents gets an error.
func NewSimulatedContent(labels map[string]int, contents map[string]string, accuracy float64, seed int64) core.Judge {
	if contents == nil {
		contents = map[string]string{}
	}
	return newSimulated(labels, contents, accuracy, seed)
}

// newSimulated builds either mode: contents nil draws per session ID.
func newSimulated(labels map[string]int, contents map[string]string, accuracy float64, seed int64) *Judge {
	cfg := DefaultConfig()
	cfg.Model = "simulated"
	acc := math.Min(math.Max(accuracy, 0), 1)
	if math.IsNaN(accuracy) {
		acc = 0
	}
	mode, desc := "simulated-", fmt.Sprintf("simulated LLM (accuracy %.3g)", acc)
	if contents != nil {
		mode, desc = "simulated-content-", fmt.Sprintf("simulated LLM (content-correlated errors, accuracy %.3g)", acc)
	}
	j, err := newJudge(cfg.withDefaults(), desc)
	if err != nil {
		// Only the embedded templates or default patterns can fail here,
		// and tests cover both: a broken build, not a runtime condition.
		panic(fmt.Sprintf("llm: simulated judge: %v", err))
	}
	j.version = mode + fmt.Sprintf("%.3g", acc) + "+" + PromptVersion
	j.backend = &simBackend{labels: labels, contents: contents, accuracy: acc, seed: seed}
	return j
}

type simBackend struct {
	labels   map[string]int    // read-only after construction
	contents map[string]string // session ID -> content key; nil = per-session draws
	accuracy float64
	seed     int64
}

func (b *simBackend) complete(ctx context.Context, q *question) (reply, error) {
	if err := ctx.Err(); err != nil {
		return reply{}, &Error{Kind: KindCanceled, Op: q.Op, ctxErr: err}
	}
	truth, ok := b.labels[q.SessionID]
	if !ok {
		return reply{}, &Error{Kind: KindClientError, Op: q.Op, detail: "simulated LLM has no label for this session"}
	}
	draw := q.SessionID
	if b.contents != nil {
		if draw, ok = b.contents[q.SessionID]; !ok {
			return reply{}, &Error{Kind: KindClientError, Op: q.Op, detail: "simulated LLM has no content key for this session"}
		}
	}
	verdict := truth != 0
	if !b.right(draw) {
		verdict = !verdict
	}
	var content string
	switch q.Kind {
	case promptEvolDetect:
		evo := (q.ReferenceLabel != 0) == verdict
		why := "simulated: the reference is in a different state"
		if evo {
			why = "simulated: same state as the reference, wording differs"
		}
		content = fmt.Sprintf(`{"is_evolution": %t, "reason": %q}`, evo, why)
	default:
		content = fmt.Sprintf(`{"state": %q, "reason": "simulated: answered from the test label"}`, labelName(boolLabel(verdict)))
	}
	return reply{Content: content, Attempts: 1}, nil
}

// right reports whether the simulated LLM answers a session (or content)
// correctly (internal/simdraw, the draw the HTTP stand-in shares).
func (b *simBackend) right(key string) bool {
	return simdraw.Right(b.seed, key, b.accuracy)
}

func boolLabel(b bool) int {
	if b {
		return 1
	}
	return 0
}
