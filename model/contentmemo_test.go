package model_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/evolve"
)

// A session that repeats a content (the same normalised lines, in any order)
// on the same snapshot is read from the content memo, with the verdict a
// cascade reading it anew gives; another content, or the same content after
// the snapshot changed, is read anew.
func TestARepeatedContentIsReadOnce(t *testing.T) {
	f := trained(t)
	c, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc, RecentSessions: 100})
	if err != nil {
		t.Fatal(err)
	}
	c.EnableAEM(evolve.Config{}, nil) // not run: operator edits apply at once
	flagged, _ := firstWith(t, c, f.test, true)
	base := c.Stats().Repeats

	first := detect(t, c, again(flagged, 1))
	reordered := again(flagged, 2)
	slices.Reverse(reordered.Lines)
	second := detect(t, c, reordered)
	if got := c.Stats().Repeats - base; got != 2 { // both repeat flagged's content, which firstWith read
		t.Fatalf("repeats %d, want 2", got)
	}
	fresh, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc})
	if err != nil {
		t.Fatal(err)
	}
	anew := detect(t, fresh, reordered)
	for _, v := range []model.Verdict{first, second} {
		if v.Score != anew.Score || v.Anomaly != anew.Anomaly || v.Evolved != anew.Evolved || v.Route != anew.Route ||
			math.Abs(v.RecError-anew.RecError) > 1e-6*anew.RecError {
			t.Fatalf("verdict from the memo %+v, read anew %+v", v, anew)
		}
	}

	// One line more is another content.
	longer := again(flagged, 3)
	longer.Lines = append(longer.Lines, longer.Lines[0])
	before := c.Stats().Repeats
	detect(t, c, longer)
	if c.Stats().Repeats != before {
		t.Fatal("a session with one line more was read from the memo")
	}

	// An operator's label makes a new snapshot: the content is read anew,
	// and the label decides.
	if _, err := c.Teach(context.Background(), model.FeedbackRequest{Action: bundle.FeedbackNormal, Lines: flagged.Lines, Who: "alice"}); err != nil {
		t.Fatal(err)
	}
	before = c.Stats().Repeats
	if v := detect(t, c, again(flagged, 4)); v.Anomaly {
		t.Fatalf("the content labelled normal is still flagged: %+v", v)
	}
	if c.Stats().Repeats != before {
		t.Fatal("a reading of the snapshot before the label was used after it")
	}
	if detect(t, c, again(flagged, 5)); c.Stats().Repeats != before+1 {
		t.Fatal("the new snapshot's reading was not kept")
	}
}
