package model

import (
	"context"
	"errors"
	"fmt"
	"github.com/coorlog/coorlogprocessor/internal/lru"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// Operator feedback: an operator says that a session's content is normal or
// anomalous, or suppresses it. A label becomes an operator item in the kNN
// memory through an AEM update (the coordinator learns the content too, so
// it stops going to the LLM), and outranks every LLM or training label of the
// same session vector (smallmodel.Memory.Score). A suppression changes no
// model: sessions of that content are reported normal, with the reason. Every
// entry, undone ones included, stays in the snapshot's feedback log and so in
// the bundle.

// Errors of Teach and Undo, for callers to map (errors.Is).
var (
	ErrBadFeedback     = errors.New("malformed feedback")
	ErrUnknownSession  = errors.New("unknown session id")
	ErrUnknownFeedback = errors.New("unknown or already undone feedback id")
)

// FeedbackRequest is one operator label. Lines (the session's raw lines)
// name the content; without them SessionID must be one of the cascade's
// recent sessions (see CascadeOptions.RecentSessions).
type FeedbackRequest struct {
	Action    string // bundle.FeedbackNormal, FeedbackAnomalous or FeedbackSuppress
	SessionID string
	Lines     []string
	Who       string // as authentication tells it; "" when it does not
	Why       string
	Time      time.Time // zero: now
}

// maxFeedbackText bounds Who and Why, which end up in the bundle and, for a
// suppression, in the reason attribute of records.
const maxFeedbackText = 1024

func (r FeedbackRequest) validate() error {
	switch {
	case !bundle.ValidFeedbackAction(r.Action):
		return fmt.Errorf("%w: action %q (want %s, %s or %s)", ErrBadFeedback, r.Action, bundle.FeedbackNormal, bundle.FeedbackAnomalous, bundle.FeedbackSuppress)
	case r.SessionID == "" && len(r.Lines) == 0:
		return fmt.Errorf("%w: give a session id or the session's lines", ErrBadFeedback)
	case len(r.Who) > maxFeedbackText || len(r.Why) > maxFeedbackText:
		return fmt.Errorf("%w: who and why are limited to %d bytes", ErrBadFeedback, maxFeedbackText)
	}
	return nil
}

// EnableFeedback sets where operator edits are saved when AEM is off (with
// AEM on, its persist callback saves them, as every update). nil: not saved
// (the caller saves Bundle()).
func (c *Cascade) EnableFeedback(persist func(context.Context, *evolve.Snapshot) error) {
	c.fbMu.Lock()
	c.persist = persist
	c.fbMu.Unlock()
}

// editorLocked is the updater that applies operator edits: AEM's when it is
// on (one updater, so edits and AEM updates never race), else a private one.
func (c *Cascade) editorLocked() *evolve.Updater {
	if u := c.AEM(); u != nil {
		return u
	}
	if c.editor == nil {
		c.editor = evolve.New(&c.snap, evolve.Config{}, c.persist)
	}
	return c.editor
}

// Teach applies an operator label and returns the feedback entry it made.
// A label supersedes the standing label of the same content (a suppression
// the standing suppression); on error nothing changes.
func (c *Cascade) Teach(ctx context.Context, r FeedbackRequest) (bundle.Feedback, error) {
	if err := r.validate(); err != nil {
		return bundle.Feedback{}, err
	}
	var sv []float32
	var key string
	lines := r.Lines
	if len(lines) == 0 {
		rs, ok := c.recent.get(r.SessionID)
		if !ok {
			return bundle.Feedback{}, fmt.Errorf("%w %q: it is not among the %d latest sessions; give its lines instead", ErrUnknownSession, r.SessionID, c.recent.capacity())
		}
		sv, key, lines = rs.vec, rs.key, rs.lines
	} else {
		keys := lineKeys(lines)
		vs, err := embedForPooling(ctx, c.enc, lines, keys)
		if err != nil {
			return bundle.Feedback{}, fmt.Errorf("feedback: encode: %w", err)
		}
		sv = sessionVector(vs, keys, c.pooling, c.snap.Load().Lexical)
		if !vec.Finite(sv) || len(sv) != c.snap.Load().Small.Dim() {
			return bundle.Feedback{}, errors.New("feedback: the encoder gave no usable vector for these lines")
		}
		key = c.key(lines)
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}

	c.fbMu.Lock()
	defer c.fbMu.Unlock()
	cur := c.snap.Load()
	mcfg := cur.Memory.Config()
	entry := bundle.Feedback{ID: fmt.Sprintf("fb-%d", len(cur.Feedback)+1), Action: r.Action, Key: key, SessionID: r.SessionID,
		Lines: mcfg.Cap(lines), Who: r.Who, Why: r.Why, Time: r.Time}
	log := slices.Clone(cur.Feedback)
	label := entry.Label()
	for i, f := range log {
		if f.Key == key && f.Active() && (f.Label() >= 0) == (label >= 0) {
			log[i].Undone, log[i].UndoneBy = r.Time, fmt.Sprintf("%s (superseded by %s)", r.Who, entry.ID)
		}
	}
	e := evolve.Edit{Feedback: append(log, entry)}
	if label >= 0 {
		id := r.SessionID
		if id == "" {
			id = entry.ID
		}
		e.Forget = []string{key}
		e.Learn = []evolve.Finding{{ID: id, Vec: sv, Lines: lines, Key: key, Label: label, Operator: true}}
	}
	if err := c.editorLocked().Edit(ctx, e); err != nil {
		return bundle.Feedback{}, fmt.Errorf("feedback: %w", err)
	}
	return entry, nil
}

// Undo withdraws a standing feedback entry: a label's operator item leaves
// the memory, a suppression stops. The entry stays in the log, marked undone.
func (c *Cascade) Undo(ctx context.Context, id, who string) (bundle.Feedback, error) {
	c.fbMu.Lock()
	defer c.fbMu.Unlock()
	cur := c.snap.Load()
	i := slices.IndexFunc(cur.Feedback, func(f bundle.Feedback) bool { return f.ID == id && f.Active() })
	if i < 0 {
		return bundle.Feedback{}, fmt.Errorf("%w: %q", ErrUnknownFeedback, id)
	}
	log := slices.Clone(cur.Feedback)
	log[i].Undone, log[i].UndoneBy = time.Now().UTC(), who
	e := evolve.Edit{Feedback: log}
	if log[i].Label() >= 0 {
		e.Forget = []string{log[i].Key}
	}
	if err := c.editorLocked().Edit(ctx, e); err != nil {
		return bundle.Feedback{}, fmt.Errorf("feedback: %w", err)
	}
	return log[i], nil
}

// Feedback is the feedback log, oldest first (shared: do not modify).
func (c *Cascade) Feedback() []bundle.Feedback { return c.snap.Load().Feedback }

// ReasonSuppressedPrefix starts the reason of a session whose content an
// operator suppressed: "suppressed by operator feedback fb-N".
const ReasonSuppressedPrefix = "suppressed by operator feedback"

// suppress reports an anomalous verdict on a suppressed content as normal.
func (c *Cascade) suppress(snap *evolve.Snapshot, s Session, v *Verdict) {
	if !v.Anomaly || len(snap.Feedback) == 0 {
		return
	}
	if f, ok := snap.Suppressed(c.contentKey(s)); ok {
		v.Anomaly = false
		v.Reason = ReasonSuppressedPrefix + " " + f.ID
	}
}

// recentSessions keeps the latest sessions' vectors, content keys and
// capped text, for feedback by session id. A session id seen again replaces
// its entry. Bounded by count: at most n entries of at most the memory's
// line caps (32 lines of 256 bytes by default, about 10 kB with the vector).
type recentSessions struct {
	n    int
	caps smallmodel.MemoryConfig

	mu   sync.Mutex
	byID *lru.List[string, *recentSession] // in order of arrival; a lookup does not refresh
}

type recentSession struct {
	id    string
	vec   []float32
	key   string
	lines []string
}

func newRecentSessions(n int, caps smallmodel.MemoryConfig) *recentSessions {
	if n <= 0 {
		return nil
	}
	return &recentSessions{n: n, caps: caps, byID: lru.New[string, *recentSession](n)}
}

func (r *recentSessions) capacity() int {
	if r == nil {
		return 0
	}
	return r.n
}

// add records s (its vector is the one detect computed; see Cascade.detect).
func (r *recentSessions) add(s Session, sv []float32, key func(Session) string) {
	if r == nil || s.ID == "" || len(sv) == 0 {
		return
	}
	rs := &recentSession{id: s.ID, vec: sv, key: key(s), lines: r.caps.Cap(s.Lines)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID.Put(s.ID, rs)
}

func (r *recentSessions) get(id string) (*recentSession, bool) {
	if r == nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID.Peek(strings.TrimSpace(id))
}
