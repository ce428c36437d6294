package model

import (
	"context"
	"errors"
	"fmt"
	"github.com/coorlog/coorlogprocessor/model/core"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/normalize"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// CascadeOptions configure a Cascade.
type CascadeOptions struct {
	// Encoder embeds log lines (wrap it with model/embedcache). Required; its
	// Dim must match the bundle.
	Encoder Encoder
	// Judge is the LLM stage. Without one, evolved sessions get the small
	// model's verdict with route "fallback".
	Judge Judge
	// K is the number of memory neighbours given to the Judge; default 5.
	K int
	// Key identifies a session's content for memory dedup and AEM; default
	// normalize.TemplateKey (the normalised template sequence).
	Key func(lines []string) string
	// RequireEncoderMatch makes NewCascade fail when the encoder does not
	// reproduce the bundle's probe vectors (see CheckEncoder). Otherwise the
	// result is only kept for EncoderCheck, for a warning at start: vectors
	// from another encoder, pooling or normaliser send nearly every session
	// to the LLM.
	RequireEncoderMatch bool
	// RecentSessions is how many of the latest sessions the cascade keeps
	// (capped text) so that an operator can label one by its id (Teach);
	// 0 keeps none.
	RecentSessions int
	// TrustFragileVotes keeps a session the coordinator passes on the small
	// model even when its kNN verdict is fragile (smallmodel.Memory.Fragile:
	// relabelling one voting neighbour would flip it). By default such a
	// session goes to the Judge like an evolved one: AEM puts the LLM's
	// labels into memory, and one wrong label among the items of a content
	// flips the vote of every later session with that content (measured: one
	// LLM error became 18 false alarms); the Judge, with its verdict cache,
	// settles it at the cost of one request per content.
	TrustFragileVotes bool
	// LearnUncorroboratedAlarms lets AEM learn at once an LLM answer
	// "anomalous" that overrules the small model's "normal". By default such
	// an answer waits until an answer about another content within tau
	// agrees with it, and the sessions near it (within tau, or with a vote
	// it would turn) go to the Judge meanwhile (see corroborate.go).
	LearnUncorroboratedAlarms bool
	// JudgeConcurrency is how many deferred sessions (DetectDeferred) may be
	// with the Judge at once; the others wait for a turn before they decide
	// again (default 4, the LLM client's default concurrency).
	JudgeConcurrency int
}

// MinProbeCosine is the least cosine similarity between a probe line's
// vector now and at training for the encoder to count as the same one.
const MinProbeCosine = 0.99

// ErrEncoderMismatch reports an encoder that does not reproduce the vectors
// a bundle was trained on.
var ErrEncoderMismatch = errors.New("encoder does not match the bundle")

// CheckEncoder re-embeds the bundle's probe lines and returns
// ErrEncoderMismatch (wrapped, naming the first line whose cosine to its
// training vector is below MinProbeCosine). A bundle without probe lines
// passes.
func CheckEncoder(ctx context.Context, enc Encoder, ref bundle.EncoderRef) error {
	if len(ref.Probe) == 0 {
		return nil
	}
	lines := make([]string, len(ref.Probe))
	for i, p := range ref.Probe {
		lines[i] = p.Line
	}
	got, err := enc.Embed(ctx, lines)
	if err != nil {
		return fmt.Errorf("encoder check: %w", err)
	}
	if len(got) != len(lines) {
		return fmt.Errorf("encoder check: %d vectors for %d lines", len(got), len(lines))
	}
	for i, p := range ref.Probe {
		if cos := vec.Cosine(got[i], p.Vector); !(cos >= MinProbeCosine) {
			return fmt.Errorf("%w: probe line %d has cosine %.3f to its training vector (bundle encoder %q); retrain the bundle with this encoder or configure the one it names",
				ErrEncoderMismatch, i, cos, ref.Name)
		}
	}
	return nil
}

// Cascade is the CoorLog detector: encoder, coordinator, small model + kNN
// memory, LLM stage, and (optionally) AEM. The models are one immutable
// evolve.Snapshot behind an atomic pointer: a Detect uses the snapshot it
// loaded at its start, and AEM or a reload swaps in a new one atomically.
// Safe for concurrent use.
type Cascade struct {
	enc   Encoder
	judge Judge
	k     int
	key   func([]string) string
	gate  bool           // send fragile small-model verdicts to the Judge
	held  *corroboration // surprising LLM answers awaiting corroboration; nil: learnt at once

	snap     atomic.Pointer[evolve.Snapshot]
	memo     atomic.Pointer[contentMemo] // readings on the current snapshot, by content
	manifest bundle.Manifest             // of the loaded bundle, for persisting AEM snapshots
	pooling  string                      // the bundle's session pooling
	encErr   error                       // CheckEncoder's result at construction

	aemMu sync.Mutex
	aem   atomic.Pointer[evolve.Updater]

	recent  *recentSessions // for operator feedback by session id; nil when off
	turns   chan struct{}   // the deferred sessions' turns with the Judge
	fbMu    sync.Mutex      // one operator edit at a time
	editor  *evolve.Updater // applies operator edits when AEM is off
	persist func(context.Context, *evolve.Snapshot) error

	st counters
}

// NewCascade builds a cascade from a trained bundle.
func NewCascade(b *bundle.Bundle, opts CascadeOptions) (*Cascade, error) {
	if b == nil || b.Coordinator == nil || b.Small == nil || b.Memory == nil {
		return nil, errors.New("cascade: incomplete bundle")
	}
	if opts.Encoder == nil {
		return nil, errors.New("cascade: an encoder is required")
	}
	if d, want := opts.Encoder.Dim(), b.Coordinator.Dim(); d != want {
		return nil, fmt.Errorf("cascade: encoder gives %d-d vectors, bundle expects %d (trained with encoder %q)", d, want, b.Manifest.Encoder.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	encErr := CheckEncoder(ctx, opts.Encoder, b.Manifest.Encoder)
	cancel()
	if encErr != nil && opts.RequireEncoderMatch {
		return nil, fmt.Errorf("cascade: %w", encErr)
	}
	if opts.K <= 0 {
		opts.K = 5
	}
	if opts.Key == nil {
		opts.Key = normalize.TemplateKey
	}
	if opts.JudgeConcurrency <= 0 {
		opts.JudgeConcurrency = 4
	}
	c := &Cascade{turns: make(chan struct{}, opts.JudgeConcurrency), enc: opts.Encoder, judge: opts.Judge, k: opts.K, key: opts.Key, gate: !opts.TrustFragileVotes, manifest: b.Manifest, pooling: b.Manifest.Encoder.SessionPoolingOf(), encErr: encErr,
		recent: newRecentSessions(opts.RecentSessions, b.Memory.Config())}
	if !opts.LearnUncorroboratedAlarms {
		c.held = &corroboration{}
	}
	c.snap.Store(snapshotOf(b))
	return c, nil
}

// contentKey is a session's content key: its upstream templates' key when
// every line came with one, else the configured key of its lines.
func (c *Cascade) contentKey(s Session) string {
	return normalize.SessionKey(s.Lines, s.Templates, c.key)
}

func snapshotOf(b *bundle.Bundle) *evolve.Snapshot {
	return &evolve.Snapshot{Coordinator: b.Coordinator, Small: b.Small, Memory: b.Memory,
		Base: evolve.BaseVersion(b.Manifest.ModelVersion), Updates: b.Manifest.Updates, Feedback: b.Feedback, Lexical: b.Manifest.Encoder.Lexical}
}

// Detect judges one session through the full cascade.
func (c *Cascade) Detect(ctx context.Context, s Session) (Verdict, error) {
	v, _, err := c.detect(ctx, s, judgeInline)
	return v, err
}

// DetectFast is Detect without the LLM stage, for back-pressure: a session
// that would go to the LLM gets the small model's verdict, route fallback.
func (c *Cascade) DetectFast(ctx context.Context, s Session) (Verdict, error) {
	v, _, err := c.detect(ctx, s, judgeNever)
	return v, err
}

// DetectDeferred is Detect in two parts (core.Deferrer): a session that needs
// the LLM gets a provisional verdict at once (route pending, not an anomaly,
// the small model's score) and finish, which asks the LLM and returns the
// final verdict, feeding AEM as Detect does. Every other session's verdict is
// final, and finish is nil.
func (c *Cascade) DetectDeferred(ctx context.Context, s Session) (Verdict, func(context.Context) Verdict, error) {
	return c.detect(ctx, s, judgeDeferred)
}

// judgeMode says how detect treats a session that needs the LLM.
type judgeMode int

const (
	judgeInline   judgeMode = iota // ask it now
	judgeNever                     // the small model's verdict, route fallback (overload)
	judgeDeferred                  // a provisional verdict now, the LLM's in finish
	judgeFinish                    // finish of a deferred session: judgeInline, counted once
)

// Fallback reasons (no error text: it could carry endpoint details).
const (
	ReasonEmpty    = "empty session"
	ReasonNoLLM    = "no LLM configured: evolved session judged by the small model"
	ReasonFastPath = "fast path (overload): evolved session judged by the small model"
	ReasonLLMError = "LLM stage failed: evolved session judged by the small model"
	ReasonTimeout  = "LLM stage timed out: evolved session judged by the small model"
)

// ReasonOperatorPrefix starts the reason of a session whose content an
// operator labelled: "operator label: same content as ID" (the labelled
// session's id, or the feedback id when the label came with the lines).
const ReasonOperatorPrefix = "operator label: same content as"

// ReasonAwaitingLLM is the reason of a provisional verdict (route pending).
const ReasonAwaitingLLM = "awaiting the LLM: the final verdict follows in a record of its own"

// ReasonPendingPrefix starts the reason of a session answered from a pending
// AEM finding (route cache): "same session vector as ID, judged by the LLM
// (AEM update pending)".
const ReasonPendingPrefix = "same session vector as"

func (c *Cascade) detect(ctx context.Context, s Session, mode judgeMode) (Verdict, func(context.Context) Verdict, error) {
	snap := c.snap.Load()
	v := Verdict{ModelVersion: snap.Version()}
	if mode != judgeFinish {
		c.st.sessions.Add(1)
	}
	if len(s.Lines) == 0 {
		v.Route, v.Reason = RouteFallback, ReasonEmpty
		c.st.route(v.Route)
		return v, nil, nil
	}

	r, err := c.read(ctx, snap, s)
	if err != nil {
		return Verdict{}, nil, err
	}
	sv, sem, proj, hits := r.sv, r.sem, r.proj, r.hits
	mem := snap.Memory
	voting := hits[:min(mem.Config().K, len(hits))]
	exact := r.exact
	v.RecError, v.Evolved = r.recErr, r.evolved
	v.Score, v.Anomaly = r.score, r.anomaly
	// After AEM, a session next to one the LLM judged is no news, though the
	// autoencoder, fine-tuned on a few such sessions, may still not
	// reconstruct it (reading.known). A session whose very content the
	// memory holds with one label (exact, all its items agree) is known too,
	// whoever gave the label: there is no unusual line, and the LLM would be
	// asked what the memory already says (measured on the real corpora: LLM
	// sessions 6.8% -> 3.8% on CoreDNS, 9.8% -> 4.9% on NATS v2.8.4 ->
	// v2.10.7, F1 within 0.006).
	if v.Evolved && (exact && (v.Score == 0 || v.Score == 1) || r.known) {
		v.Evolved = false
		c.st.known.Add(1)
	}
	// An operator's label of this very content decided the score (Score);
	// it also keeps the session off the LLM and says so.
	if r.opOK {
		v.Evolved = false
		v.Reason = ReasonOperatorPrefix + " " + r.op.ID
	}

	// A vote resting on one memory label is not trusted when a Judge can
	// settle it (a label the memory holds for this very content is).
	uncertain := c.gate && !v.Evolved && !exact && c.judge != nil && mode != judgeNever && r.fragile
	if uncertain {
		c.st.fragile.Add(1)
	}
	// A session near an LLM alarm held for corroboration is asked about
	// too: within tau of it, or with a vote the alarm would turn were it
	// learnt. Its answer corroborates the alarm or discards it.
	if !v.Evolved && !uncertain && c.held != nil && c.judge != nil && mode != judgeNever &&
		(c.held.near(sem, sv, snap.Coordinator.Distance, snap.Coordinator.Tau()) ||
			c.held.wouldTurn(proj, sv, mem, voting, snap.Small)) {
		uncertain = true
		c.st.nearHeld.Add(1)
	}
	switch {
	case !v.Evolved && !uncertain:
		v.Route = RouteSmallModel
	case mode == judgeNever:
		v.Route, v.Reason = RouteFallback, ReasonFastPath
		c.st.fastPath.Add(1)
	case c.judge == nil:
		v.Route, v.Reason = RouteFallback, ReasonNoLLM
	case c.matchPending(sv, &v):
	case mode == judgeDeferred:
		// finish waits for its turn with the Judge, then decides again on
		// the snapshot of that time: what AEM learnt while the session
		// waited (from the LLM's answers to the sessions before it) may
		// settle it without a request, as it would have for a session
		// arriving then.
		base := v
		finish := func(ctx context.Context) Verdict {
			select {
			case c.turns <- struct{}{}:
				defer func() { <-c.turns }()
			case <-ctx.Done():
				fv := base
				fv.Route, fv.Reason = RouteFallback, ReasonTimeout
				c.settle(snap, s, sv, &fv)
				return fv
			}
			fv, _, err := c.detect(ctx, s, judgeFinish)
			if err != nil {
				fv = base
				fv.Route, fv.Reason = RouteFallback, ReasonLLMError
				c.settle(snap, s, sv, &fv)
			}
			return fv
		}
		v.Route, v.Reason, v.Anomaly = RoutePending, ReasonAwaitingLLM, false
		return v, finish, nil
	default:
		c.judgeSession(ctx, s, snap, sv, hits, &v)
	}
	c.settle(snap, s, sv, &v)
	return v, nil, nil
}

// read is the reading of s on snap: the memo's when a session of the same
// content was read on snap, else made now (and kept).
func (c *Cascade) read(ctx context.Context, snap *evolve.Snapshot, s Session) (*reading, error) {
	t0 := time.Now()
	memo := c.memoFor(snap)
	var id contentID
	if memo != nil {
		id = contentOf(s.Lines)
		if r, ok := memo.get(id); ok {
			c.st.repeats.Add(1)
			c.st.encodeNs.Add(int64(time.Since(t0)))
			return r, nil
		}
	}
	r, err := c.readNew(ctx, snap, s, lineKeys(s.Lines), t0)
	if err == nil && memo != nil {
		memo.put(id, r)
	}
	return r, err
}

// readNew makes the reading of s (normalised lines keys) on snap. t0 is when
// the encoding began.
func (c *Cascade) readNew(ctx context.Context, snap *evolve.Snapshot, s Session, keys []string, t0 time.Time) (*reading, error) {
	// Encode: lines -> vectors -> session vector (pooled as the bundle's were).
	lines, err := embedForPooling(ctx, c.enc, s.Lines, keys)
	if err != nil {
		return nil, fmt.Errorf("detect %s: encode: %w", s.ID, err)
	}
	sv := sessionVector(lines, keys, c.pooling, snap.Lexical)
	if len(lines) != len(s.Lines) || len(sv) != snap.Small.Dim() {
		return nil, fmt.Errorf("detect %s: encoder returned %d vectors of width %d for %d lines, model expects width %d",
			s.ID, len(lines), len(sv), len(s.Lines), snap.Small.Dim())
	}
	if !vec.Finite(sv) {
		return nil, fmt.Errorf("detect %s: encoder returned a non-finite vector", s.ID)
	}
	t1 := time.Now()
	c.st.encodeNs.Add(int64(t1.Sub(t0)))

	// Coordinator: is the session evolved?
	r := &reading{sv: sv, sem: snap.Lexical.Semantic(sv)} // sem: the coordinator's half
	r.recErr, r.evolved = snap.Coordinator.Evolved(r.sem)
	if math.IsInf(r.recErr, 0) || math.IsNaN(r.recErr) {
		r.recErr = math.MaxFloat64 // keep the verdict serialisable
	}
	t2 := time.Now()
	c.st.coordNs.Add(int64(t2.Sub(t1)))

	// Small model: project, retrieve, vote. Needed on every path (it is the
	// fallback verdict), and its neighbours are the LLM's context.
	mem := snap.Memory
	kVote := mem.Config().K
	r.proj = snap.Small.Project(sv)
	r.hits = mem.Search(r.proj, max(kVote, c.k))
	voting := r.hits[:min(kVote, len(r.hits))]
	r.score, r.exact = mem.Score(sv, voting)
	r.anomaly = r.score >= mem.Config().Threshold
	// Near training sessions the autoencoder, trained on all of them, keeps
	// the last word: there an error above tau means something else, such as
	// one unusual line. Near a session the LLM or an operator judged, it
	// does not (Cascade.known). The neighbours just retrieved are the
	// candidates (the projection keeps near sessions near): K distances.
	r.known = r.evolved && c.known(snap, sv, r.hits, r.anomaly)
	r.op, r.opOK = mem.OperatorLabel(sv)
	r.fragile = mem.Fragile(voting)
	c.st.smallNs.Add(int64(time.Since(t2)))
	return r, nil
}

// settle applies an operator's suppression to a final verdict, keeps the
// session for feedback by id, and counts it.
func (c *Cascade) settle(snap *evolve.Snapshot, s Session, sv []float32, v *Verdict) {
	c.suppress(snap, s, v)
	c.recent.add(s, sv, c.contentKey)
	c.st.route(v.Route)
	if v.Evolved {
		c.st.evolved.Add(1)
	}
	if v.Anomaly {
		c.st.anomalies.Add(1)
	}
}

// known reports whether a retrieved memory session that the LLM (or an
// operator) judged, with the label the vote gave (anomaly), lies within tau of the session vector sv
// (see coordinator.Model.Distance). A near session whose label the vote
// contradicts does not make the verdict known: the small model disagrees
// with the session that explains this one, and the LLM settles it.
func (c *Cascade) known(snap *evolve.Snapshot, sv []float32, hits []smallmodel.Hit, anomaly bool) bool {
	tau := snap.Coordinator.Tau()
	for _, h := range hits {
		it := snap.Memory.Item(h.Index)
		if (it.Judged || it.Operator) && (it.Label == 1) == anomaly && snap.Coordinator.Distance(snap.Lexical.Semantic(sv), snap.Lexical.Semantic(it.Vec)) < tau {
			return true
		}
	}
	return false
}

// Neighbours returns the k memory sessions most similar to the session
// vector sv in the small model's projection space, most similar first, with
// their text (for LLM prompts and for inspection).
func (c *Cascade) Neighbours(sv []float32, k int) []Neighbour {
	snap := c.snap.Load()
	hits := snap.Memory.Search(snap.Small.Project(sv), k)
	out := make([]Neighbour, len(hits))
	for i, h := range hits {
		it := snap.Memory.Item(h.Index)
		out[i] = Neighbour{ID: it.ID, Lines: slices.Clone(it.Lines), Label: it.Label, Similarity: float64(h.Similarity)}
	}
	return out
}

// EnableAEM attaches an AEM updater to the cascade's snapshot store and
// returns it; the caller runs it (go u.Run(ctx)) and may Flush it. persist,
// when not nil, receives every new snapshot (see PersistDir). Calling it again
// returns the same updater.
func (c *Cascade) EnableAEM(cfg evolve.Config, persist func(context.Context, *evolve.Snapshot) error) *evolve.Updater {
	c.aemMu.Lock()
	defer c.aemMu.Unlock()
	if u := c.aem.Load(); u != nil {
		return u
	}
	u := evolve.New(&c.snap, cfg, persist)
	c.aem.Store(u)
	return u
}

// AEM is the attached updater, or nil.
func (c *Cascade) AEM() *evolve.Updater { return c.aem.Load() }

// PersistDir returns an AEM persist callback that saves each snapshot as the
// bundle in dir (atomically; the last good bundle survives a failed write).
func (c *Cascade) PersistDir(dir string) func(context.Context, *evolve.Snapshot) error {
	return func(ctx context.Context, s *evolve.Snapshot) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := bundle.Save(dir, c.bundleOf(s))
		return err
	}
}

// Bundle is the current snapshot as a bundle, ready to Save.
func (c *Cascade) Bundle() *bundle.Bundle { return c.bundleOf(c.snap.Load()) }

func (c *Cascade) bundleOf(s *evolve.Snapshot) *bundle.Bundle {
	m := c.manifest
	m.ModelVersion = s.Base
	m.Updates = s.Updates
	m.Encoder.Lexical = s.Lexical
	return &bundle.Bundle{Manifest: m, Coordinator: s.Coordinator, Small: s.Small, Memory: s.Memory, Feedback: s.Feedback}
}

// EncoderCheck is the result of CheckEncoder when the cascade was built: nil,
// or an ErrEncoderMismatch (or probe failure) worth a warning at start.
func (c *Cascade) EncoderCheck() error { return c.encErr }

// Snapshot is the model set in use now.
func (c *Cascade) Snapshot() *evolve.Snapshot { return c.snap.Load() }

// Swap replaces the models with those of b (a reloaded bundle) atomically.
func (c *Cascade) Swap(b *bundle.Bundle) error {
	if b == nil || b.Coordinator == nil || b.Small == nil || b.Memory == nil {
		return errors.New("cascade: incomplete bundle")
	}
	if d, want := c.enc.Dim(), b.Coordinator.Dim(); d != want {
		return fmt.Errorf("cascade: encoder gives %d-d vectors, bundle expects %d", d, want)
	}
	c.snap.Store(snapshotOf(b))
	return nil
}

// ModelVersion is the version reported in verdicts now.
func (c *Cascade) ModelVersion() string { return c.snap.Load().Version() }

var (
	_ core.Deferrer = (*Cascade)(nil)
	_ core.Deferrer = (*Learner)(nil)
)
