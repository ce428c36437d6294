package model_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/evolve"
)

// firstWith returns the first test session the cascade calls anomalous (or
// not), and its verdict.
func firstWith(t *testing.T, c *model.Cascade, ss []model.LabelledSession, anomaly bool) (model.LabelledSession, model.Verdict) {
	t.Helper()
	for _, s := range ss {
		v, err := c.Detect(context.Background(), model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil {
			t.Fatal(err)
		}
		if v.Anomaly == anomaly && s.Label == map[bool]int{false: 0, true: 1}[anomaly] {
			return s, v
		}
	}
	t.Fatalf("no test session with verdict anomaly=%v", anomaly)
	return model.LabelledSession{}, model.Verdict{}
}

// again is the same content as s in a new session: another block id (the
// normaliser masks it), another session id.
func again(s model.LabelledSession, n int) model.Session {
	blk := strings.SplitN(s.ID, "#", 2)[0]
	lines := make([]string, len(s.Lines))
	for i, l := range s.Lines {
		lines[i] = strings.ReplaceAll(l, blk, fmt.Sprintf("blk_%d", 7300000000000000000+n))
	}
	return model.Session{ID: fmt.Sprintf("again-%d", n), Lines: lines}
}

func detect(t *testing.T, c *model.Cascade, s model.Session) model.Verdict {
	t.Helper()
	v, err := c.Detect(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The feedback requirement at the model: an operator's "normal" on
// a flagged content and "anomalous" on a passed one decide later sessions of
// those contents, through an AEM update; undo withdraws a label; the labels
// and the log survive the bundle round trip.
func TestOperatorLabelsDecideLaterSessions(t *testing.T) {
	f := trained(t)
	c, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc, RecentSessions: 1000})
	if err != nil {
		t.Fatal(err)
	}
	upd := c.EnableAEM(evolve.Config{}, nil) // not run: operator edits apply at once
	ctx := context.Background()

	flagged, _ := firstWith(t, c, f.test, true)
	passed, _ := firstWith(t, c, f.test, false)
	if v := detect(t, c, again(flagged, 1)); !v.Anomaly {
		t.Fatalf("the same content in another session must be flagged before feedback: %+v", v)
	}

	fb1, err := c.Teach(ctx, model.FeedbackRequest{Action: bundle.FeedbackNormal, SessionID: flagged.ID, Who: "alice", Why: "planned failover"})
	if err != nil {
		t.Fatal(err)
	}
	fb2, err := c.Teach(ctx, model.FeedbackRequest{Action: bundle.FeedbackAnomalous, Lines: passed.Lines, Who: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if fb1.ID != "fb-1" || fb2.ID != "fb-2" || fb1.Who != "alice" || fb1.Why != "planned failover" || fb1.SessionID != flagged.ID || fb1.Time.IsZero() || fb1.Key == "" {
		t.Fatalf("entries %+v %+v", fb1, fb2)
	}
	if st := upd.Stats(); st.Updates != 2 {
		t.Fatalf("each label is one AEM update: %+v", st)
	}
	for i := 2; i < 5; i++ {
		if v := detect(t, c, again(flagged, i)); v.Anomaly {
			t.Fatalf("content labelled normal still flagged: %+v", v)
		}
		if v := detect(t, c, again(passed, i)); !v.Anomaly {
			t.Fatalf("content labelled anomalous not flagged: %+v", v)
		}
	}

	// The bundle keeps labels and log: a cascade built from it agrees.
	p, err := c.Bundle().Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Feedback) != 2 || b.Feedback[0].Who != "alice" || !b.Feedback[1].Active() {
		t.Fatalf("bundle feedback %+v", b.Feedback)
	}
	c2, err := model.NewCascade(b, model.CascadeOptions{Encoder: f.enc})
	if err != nil {
		t.Fatal(err)
	}
	if v := detect(t, c2, again(flagged, 5)); v.Anomaly {
		t.Fatalf("after reload, content labelled normal flagged: %+v", v)
	}
	if v := detect(t, c2, again(passed, 5)); !v.Anomaly {
		t.Fatalf("after reload, content labelled anomalous passed: %+v", v)
	}

	// Undo: the label leaves the memory, the entry stays, marked.
	u, err := c2.Undo(ctx, "fb-2", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if u.Active() || u.UndoneBy != "carol" {
		t.Fatalf("undone entry %+v", u)
	}
	if v := detect(t, c2, again(passed, 6)); v.Anomaly {
		t.Fatalf("after undo the model's own verdict (normal) is back: %+v", v)
	}
	if log := c2.Feedback(); len(log) != 2 || log[1].Active() || !log[0].Active() {
		t.Fatalf("log after undo %+v", log)
	}
	if _, err := c2.Undo(ctx, "fb-2", "carol"); !errors.Is(err, model.ErrUnknownFeedback) {
		t.Fatalf("undoing twice: %v", err)
	}
}

// A new label of a content supersedes its standing label; a suppression
// mutes the content without changing any model.
func TestSupersedeAndSuppress(t *testing.T) {
	f := trained(t)
	c, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc, RecentSessions: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	flagged, fv := firstWith(t, c, f.test, true)

	version := c.ModelVersion()
	sup, err := c.Teach(ctx, model.FeedbackRequest{Action: bundle.FeedbackSuppress, SessionID: flagged.ID, Why: "known noisy job"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ModelVersion() != version {
		t.Fatalf("a suppression changes no model: %s -> %s", version, c.ModelVersion())
	}
	v := detect(t, c, again(flagged, 1))
	if v.Anomaly || !strings.HasPrefix(v.Reason, model.ReasonSuppressedPrefix+" "+sup.ID) || v.Score != fv.Score {
		t.Fatalf("suppressed content: %+v (before: %+v)", v, fv)
	}
	if _, err := c.Undo(ctx, sup.ID, ""); err != nil {
		t.Fatal(err)
	}
	if v := detect(t, c, again(flagged, 2)); !v.Anomaly {
		t.Fatalf("suppression undone: %+v", v)
	}

	if _, err := c.Teach(ctx, model.FeedbackRequest{Action: bundle.FeedbackNormal, Lines: flagged.Lines}); err != nil {
		t.Fatal(err)
	}
	second, err := c.Teach(ctx, model.FeedbackRequest{Action: bundle.FeedbackAnomalous, Lines: flagged.Lines, Who: "dan"})
	if err != nil {
		t.Fatal(err)
	}
	log := c.Feedback()
	first := log[len(log)-2]
	if first.Active() || !strings.Contains(first.UndoneBy, "superseded by "+second.ID) {
		t.Fatalf("the first label must be superseded: %+v", first)
	}
	if v := detect(t, c, again(flagged, 3)); !v.Anomaly {
		t.Fatalf("the standing label is anomalous: %+v", v)
	}
}

// Bad feedback is an error that names the fault and changes nothing.
func TestBadFeedbackChangesNothing(t *testing.T) {
	f := trained(t)
	c, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc, RecentSessions: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	version := c.ModelVersion()
	long := strings.Repeat("x", 2000)
	for name, tc := range map[string]struct {
		req  model.FeedbackRequest
		want error
	}{
		"unknown action":    {model.FeedbackRequest{Action: "maybe", Lines: []string{"a"}}, model.ErrBadFeedback},
		"no content":        {model.FeedbackRequest{Action: bundle.FeedbackNormal}, model.ErrBadFeedback},
		"unknown session":   {model.FeedbackRequest{Action: bundle.FeedbackNormal, SessionID: "blk_404"}, model.ErrUnknownSession},
		"reason too long":   {model.FeedbackRequest{Action: bundle.FeedbackNormal, Lines: []string{"a"}, Why: long}, model.ErrBadFeedback},
		"operator too long": {model.FeedbackRequest{Action: bundle.FeedbackNormal, Lines: []string{"a"}, Who: long}, model.ErrBadFeedback},
	} {
		if _, err := c.Teach(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	if _, err := c.Undo(ctx, "fb-1", ""); !errors.Is(err, model.ErrUnknownFeedback) {
		t.Errorf("undo of nothing: %v", err)
	}
	if c.ModelVersion() != version || len(c.Feedback()) != 0 {
		t.Fatalf("refused feedback changed the model: %s, %d entries", c.ModelVersion(), len(c.Feedback()))
	}
}
