package model

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/cut"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/lexical"
)

// DefaultLearnSessions is how many sessions a Learner collects before it
// trains, unless told otherwise.
const DefaultLearnSessions = 1000

// LearnOptions configure a Learner.
type LearnOptions struct {
	// Sessions to collect before training; default DefaultLearnSessions.
	Sessions int
	// Duration after the first session after which training starts even
	// with fewer sessions (but at least MinSessions); 0 = no time limit.
	Duration time.Duration
	// MinSessions is the least a time-triggered training uses; default 20.
	MinSessions int
	// MaxLines and MaxLineBytes cap the text kept per collected session
	// (it becomes memory text for LLM prompts); defaults 32 and 256, as the
	// memory's.
	MaxLines, MaxLineBytes int

	Train   TrainOptions
	Cascade CascadeOptions // Encoder is required; Judge, when set, reviews suspects (Review)
	// Review screens the learning sessions before they enter the model as
	// normal (see ReviewOptions).
	Review ReviewOptions
	// Save persists the trained bundle (e.g. bundle.Save to the configured
	// directory); a failure is reported by Err but the cascade still starts.
	Save func(context.Context, *bundle.Bundle) error
	// OnScreen, when set, is called with the screen's decision for every
	// learning session, before training (for reports and logs).
	OnScreen func([]ScreenDecision)
	// OnReady is called once with the new cascade before it takes over, e.g.
	// to EnableAEM and start its updater.
	OnReady func(*Cascade)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ReasonLearning marks verdicts given while the Learner collects sessions.
const ReasonLearning = "learning"

// Learner is the detector of the processor's learn mode, for a system with
// no labels yet. It collects sessions, answering route fallback with reason
// "learning" (not anomalous), then trains a bundle on them in the background,
// persists it and hands over to a Cascade. Before training, a screen
// (ReviewOptions) finds the unusual sessions: the Judge labels the most
// suspicious within a budget, and the suspects it did not label stay out of
// the model; every other session is taken as normal.
//
// With one class, the small model cannot separate anything: every session
// below tau is "normal" by the vote. Novel sessions are caught by the
// coordinator instead (they reconstruct badly) and go to the LLM, whose
// labels enter the memory through AEM; from then on the kNN memory has both
// classes and the small model learns to separate them.
type Learner struct {
	opts   LearnOptions
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	first    time.Time
	sessions []LabelledSession
	vecs     [][]float32      // pooled line vectors; the lexical half is added at training
	counts   []lexical.Counts // token counts, for the lexical half (nil when it is off)
	traits   []sessionTraits
	training bool
	review   ReviewStats // of the last screen

	cascade atomic.Pointer[Cascade]
	ready   chan struct{}
	err     atomic.Pointer[error]
	wg      sync.WaitGroup
}

// NewLearner starts a learner; Close stops a training in progress.
func NewLearner(opts LearnOptions) (*Learner, error) {
	if opts.Cascade.Encoder == nil {
		return nil, errors.New("learner: an encoder is required")
	}
	if opts.Sessions <= 0 {
		opts.Sessions = DefaultLearnSessions
	}
	if opts.MinSessions <= 0 {
		opts.MinSessions = 20
	}
	opts.MinSessions = min(opts.MinSessions, opts.Sessions)
	if opts.MaxLines <= 0 {
		opts.MaxLines = 32
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Train.SessionPooling == "" {
		opts.Train.SessionPooling = bundle.SessionPoolDistinct
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Learner{opts: opts, ctx: ctx, cancel: cancel, ready: make(chan struct{})}, nil
}

// Detect scores with the trained cascade once ready; until then it collects
// the session and answers route fallback, reason "learning".
func (l *Learner) Detect(ctx context.Context, s Session) (Verdict, error) {
	if c := l.cascade.Load(); c != nil {
		return c.Detect(ctx, s)
	}
	return l.collect(ctx, s)
}

// DetectDeferred is Detect in two parts once the cascade runs
// (Cascade.DetectDeferred); while collecting, every verdict is final.
func (l *Learner) DetectDeferred(ctx context.Context, s Session) (Verdict, func(context.Context) Verdict, error) {
	if c := l.cascade.Load(); c != nil {
		return c.DetectDeferred(ctx, s)
	}
	v, err := l.collect(ctx, s)
	return v, nil, err
}

// DetectFast is Detect on the cascade's fast path (no LLM).
func (l *Learner) DetectFast(ctx context.Context, s Session) (Verdict, error) {
	if c := l.cascade.Load(); c != nil {
		return c.DetectFast(ctx, s)
	}
	return l.collect(ctx, s)
}

func (l *Learner) collect(ctx context.Context, s Session) (Verdict, error) {
	v := Verdict{Route: RouteFallback, Reason: ReasonLearning, ModelVersion: ReasonLearning}
	if len(s.Lines) == 0 {
		return v, nil
	}
	l.mu.Lock()
	busy := l.training
	l.mu.Unlock()
	if busy {
		return v, nil
	}
	// Encode outside the lock: it is the expensive part.
	keys := lineKeys(s.Lines) // once, for the embedding cache and the lexical half
	lines, err := embedForPooling(ctx, l.opts.Cascade.Encoder, s.Lines, keys)
	if err != nil {
		return Verdict{}, fmt.Errorf("learn %s: encode: %w", s.ID, err)
	}
	sv := SessionVector(lines, l.opts.Train.SessionPooling)
	if !vec.Finite(sv) {
		return Verdict{}, fmt.Errorf("learn %s: encoder returned a non-finite vector", s.ID)
	}
	if len(sv) != l.opts.Cascade.Encoder.Dim() {
		return Verdict{}, fmt.Errorf("learn %s: encoder returned width %d, says %d", s.ID, len(sv), l.opts.Cascade.Encoder.Dim())
	}
	var tr sessionTraits
	if !l.opts.Review.Off {
		tr = traitsOf(s.Lines) // from every line: the kept text is capped
	}
	var counts lexical.Counts
	if l.opts.Train.LexicalDims >= 0 {
		counts = lexical.CountsOfKeys(keys) // from every line, as detection will
	}
	kept := make([]string, 0, min(len(s.Lines), l.opts.MaxLines))
	for _, line := range s.Lines[:min(len(s.Lines), l.opts.MaxLines)] {
		if len(line) > l.opts.MaxLineBytes {
			line = line[:l.opts.MaxLineBytes] // the memory re-cuts on a rune boundary
		}
		kept = append(kept, line)
	}
	kept = cut.Detach(kept)

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.training {
		return v, nil
	}
	now := l.opts.Now()
	if len(l.sessions) == 0 {
		l.first = now
	}
	l.sessions = append(l.sessions, LabelledSession{ID: s.ID, Lines: kept})
	l.vecs = append(l.vecs, sv)
	l.counts = append(l.counts, counts)
	l.traits = append(l.traits, tr)
	n := len(l.sessions)
	timeUp := l.opts.Duration > 0 && now.Sub(l.first) >= l.opts.Duration && n >= l.opts.MinSessions
	if (n >= l.opts.Sessions || timeUp) && l.ctx.Err() == nil { // not after Close
		l.wg.Add(1)
		l.training = true
		sessions, vecs, counts, traits := l.sessions, l.vecs, l.counts, l.traits
		l.sessions, l.vecs, l.counts, l.traits = nil, nil, nil, nil
		go l.train(sessions, vecs, counts, traits)
	}
	return v, nil
}

// train runs in the background; on failure collection starts over.
func (l *Learner) train(sessions []LabelledSession, vecs [][]float32, counts []lexical.Counts, traits []sessionTraits) {
	defer l.wg.Done()
	topts := l.opts.Train
	if topts.LexicalDims >= 0 { // the lexical half, fitted on the whole window (IDF needs no labels)
		topts.Encoder.Lexical = lexical.Fit(counts, topts.LexicalDims)
		for i := range vecs {
			vecs[i] = lexical.Append(vecs[i], topts.Encoder.Lexical.VectorOf(counts[i]))
		}
	}
	plan := screen(l.ctx, l.opts.Review, l.opts.Cascade.Judge, sessions, vecs, traits)
	l.mu.Lock()
	l.review = plan.stats
	l.mu.Unlock()
	if l.opts.OnScreen != nil {
		ds := make([]ScreenDecision, len(sessions))
		for i, s := range sessions {
			ds[i] = ScreenDecision{ID: s.ID, Included: plan.include[i], Label: plan.label[i], Judged: plan.judged[i]}
		}
		l.opts.OnScreen(ds)
	}
	var kept []LabelledSession
	var keptVecs [][]float32
	var judged []bool
	for i, in := range plan.include {
		if in {
			s := sessions[i]
			s.Label = plan.label[i]
			kept = append(kept, s)
			keptVecs = append(keptVecs, vecs[i])
			judged = append(judged, plan.judged[i])
		}
	}
	info := bundle.TrainInfo{TrainSessions: len(kept)}
	var err error
	if l.ctx.Err() != nil {
		err = l.ctx.Err()
	} else if len(kept) < 2 {
		err = fmt.Errorf("the screen kept %d of %d learning sessions: too few to train", len(kept), len(sessions))
	}
	var probe []bundle.ProbeLine
	if err == nil {
		probe, err = encoderProbe(l.ctx, l.opts.Cascade.Encoder, kept)
	}
	var b *bundle.Bundle
	if err == nil {
		b, err = trainVectors(l.ctx, kept, keptVecs, nil, probe, topts, info, judged, nil)
	}
	var c *Cascade
	if err == nil {
		c, err = NewCascade(b, l.opts.Cascade)
	}
	if err != nil {
		err = fmt.Errorf("learner: %w", err)
		l.err.Store(&err)
		l.mu.Lock()
		l.training = false
		l.mu.Unlock()
		return
	}
	if l.opts.Save != nil {
		if serr := l.opts.Save(l.ctx, b); serr != nil {
			serr = fmt.Errorf("learner: save bundle: %w", serr)
			l.err.Store(&serr)
		}
	}
	if l.opts.OnReady != nil {
		l.opts.OnReady(c)
	}
	l.cascade.Store(c)
	close(l.ready)
}

// Ready is closed when the trained cascade has taken over.
func (l *Learner) Ready() <-chan struct{} { return l.ready }

// Cascade is the trained cascade, or nil while learning.
func (l *Learner) Cascade() *Cascade { return l.cascade.Load() }

// Err is the last training or saving failure, if any.
func (l *Learner) Err() error {
	if p := l.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Review is what the screen of the last learning window did (zero before
// training starts).
func (l *Learner) Review() ReviewStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.review
}

// Collected is the number of sessions gathered so far for training.
func (l *Learner) Collected() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sessions)
}

// Close cancels a training in progress and waits for it to end; a closed
// learner keeps answering "learning" and never trains.
func (l *Learner) Close() {
	l.mu.Lock() // collect starts trainings under mu: none starts after this
	l.cancel()
	l.mu.Unlock()
	l.wg.Wait()
}
