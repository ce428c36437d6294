// Package core holds the types the cascade's stages and its callers share:
// a session in, a verdict out, and the interfaces of the detector, the
// encoder and the LLM stage. It is a leaf: the stream processor and the LLM
// client depend on it alone, so they compile without cgo and libtorch.
package core

import "context"

// Session is a group of log records that belong together (a block, a request,
// a window), in arrival order.
type Session struct {
	ID    string
	Lines []string // raw bodies, in arrival order
	// Templates are the lines' templates as they arrived from upstream (the
	// log.record.template attribute), one per line; nil unless every record
	// carried one. When set they are the session's content key
	// (normalize.SessionKey); the encoder still reads Lines.
	Templates []string
}

// Route names the stage that produced a verdict.
type Route string

const (
	RouteSmallModel Route = "small_model" // coordinator said "not evolved"; kNN vote
	RouteLLM        Route = "llm"         // evolved; judged by the LLM (Evol-CoT)
	RouteCache      Route = "cache"       // the same template sequence was judged before (verdict cache), or a pending AEM finding
	RouteFallback   Route = "fallback"    // the preferred stage was unavailable (no LLM, budget, fault, overload)
	// RoutePending marks a provisional verdict: the LLM had not answered
	// when the records were forwarded; the final verdict follows in a record
	// of its own (see Deferrer).
	RoutePending Route = "pending"
)

// Verdict is what the detector says about one session.
type Verdict struct {
	Score        float64 // 0..1, higher = more anomalous
	Anomaly      bool
	Evolved      bool    // reconstruction error >= tau and no LLM-judged memory session within tau (see Cascade)
	Route        Route   // which stage decided
	RecError     float64 // coordinator reconstruction error (MSE)
	Reason       string  // LLM explanation or fallback cause, when there is one
	ModelVersion string
}

// Detector judges sessions. Implementations are safe for concurrent use.
type Detector interface {
	Detect(ctx context.Context, s Session) (Verdict, error)
}

// Deferrer is a Detector that can answer in two parts when a session needs
// its slow stage (the LLM): a provisional verdict at once (route pending, not
// an anomaly, the small model's score) and finish, which waits for the slow
// stage and returns the final verdict. finish is nil when v is final already.
// finish is called once; it honours ctx and never fails (a failed stage is a
// fallback verdict).
type Deferrer interface {
	Detector
	DetectDeferred(ctx context.Context, s Session) (v Verdict, finish func(context.Context) Verdict, err error)
}

// Encoder turns log lines into fixed-size vectors. Implementations are safe
// for concurrent use.
type Encoder interface {
	// Embed returns one vector of length Dim() per line, in order.
	Embed(ctx context.Context, lines []string) ([][]float32, error)
	Dim() int
}

// Neighbour is a labelled session retrieved from the kNN memory, with the text
// the LLM compares against.
type Neighbour struct {
	ID         string
	Lines      []string
	Label      int     // 0 normal, 1 anomalous
	Similarity float64 // cosine similarity in the small model's projection space
}

// Judgement is the LLM stage's answer for one evolved session.
type Judgement struct {
	Anomaly    bool
	Score      float64 // 0..1
	Reason     string
	Inherited  bool  // label inherited from neighbours judged evolutions (Evol Detect)
	Evolutions []int // indices into the neighbours judged "an evolution of" the session
	Cached     bool  // answered from the verdict cache, no LLM call made

	Calls            int // LLM requests made for this session
	PromptTokens     int
	CompletionTokens int
	TokensEstimated  bool // the endpoint reported no usage; counts are estimates
}

// Judge is the LLM stage (Evol-CoT). An error means no usable answer: the
// cascade falls back to the small model and marks the route as fallback.
type Judge interface {
	Judge(ctx context.Context, s Session, neighbours []Neighbour) (Judgement, error)
}
