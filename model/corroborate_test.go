package model

import (
	"fmt"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// The coordinator's metric in these tests: squared distance on the first
// coordinate, so that findings at x=0 and x=0.5 are within tau 1 and x=10 is
// not.
func lineDist(a, b []float32) float64 { d := float64(a[0] - b[0]); return d * d }

func finding(id string, x, y float32, label int) (evolve.Finding, []float32) {
	v := []float32{x, y}
	return evolve.Finding{ID: id, Vec: v, Label: label}, v
}

func ids(fs []evolve.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

func TestCorroborationHoldsASurpriseUntilAnotherContentAgrees(t *testing.T) {
	var c corroboration
	var st counters
	const tau = 1.0

	// An answer that agrees with the small model is learnt at once.
	f, sem := finding("agree", 20, 1, 0)
	if got := ids(c.observe(f, sem, false, lineDist, tau, &st)); fmt.Sprint(got) != "[agree]" {
		t.Fatalf("a non-surprise: learnt %v, want [agree]", got)
	}

	// A surprise waits, and answers its own vector meanwhile.
	f, sem = finding("s1", 0, 1, 1)
	if got := c.observe(f, sem, true, lineDist, tau, &st); len(got) != 0 {
		t.Fatalf("a surprise was learnt at once: %v", ids(got))
	}
	if m, ok := c.match([]float32{0, 2}); !ok || m.ID != "s1" {
		t.Fatalf("match of the held vector (scaled): %v %v", m.ID, ok)
	}
	if _, ok := c.match([]float32{1, 0}); ok {
		t.Fatal("match of another vector")
	}

	// The same content again is no second opinion; a far one is no opinion.
	f, sem = finding("same", 0, 3, 1)
	if got := c.observe(f, sem, true, lineDist, tau, &st); len(got) != 0 {
		t.Fatalf("the same content corroborated: %v", ids(got))
	}
	f, sem = finding("far", 10, 1, 1)
	if got := ids(c.observe(f, sem, false, lineDist, tau, &st)); fmt.Sprint(got) != "[far]" {
		t.Fatalf("a far non-surprise: learnt %v, want [far]", got)
	}
	if c.len() != 2 {
		t.Fatalf("held %d, want 2 (s1 and same)", c.len())
	}

	// Another content within tau with the same label releases both held
	// findings and itself.
	f, sem = finding("near", 0.5, 1, 1)
	if got := ids(c.observe(f, sem, true, lineDist, tau, &st)); fmt.Sprint(got) != "[s1 same near]" {
		t.Fatalf("corroborated: learnt %v, want [s1 same near]", got)
	}
	if c.len() != 0 || st.held.Load() != 2 || st.corroborated.Load() != 2 {
		t.Fatalf("after corroboration: held now %d, held %d, corroborated %d", c.len(), st.held.Load(), st.corroborated.Load())
	}
}

func TestCorroborationDiscardsAContradictedSurprise(t *testing.T) {
	var c corroboration
	var st counters
	f, sem := finding("wrong", 0, 1, 1)
	c.observe(f, sem, true, lineDist, 1, &st)
	// The next answer in the region says the other label: the held one is
	// discarded, and this one, agreeing with the small model, is learnt.
	f, sem = finding("right", 0.2, 1, 0)
	if got := ids(c.observe(f, sem, false, lineDist, 1, &st)); fmt.Sprint(got) != "[right]" {
		t.Fatalf("learnt %v, want [right]", got)
	}
	if c.len() != 0 || st.contradicted.Load() != 1 || st.corroborated.Load() != 0 {
		t.Fatalf("held now %d, contradicted %d, corroborated %d", c.len(), st.contradicted.Load(), st.corroborated.Load())
	}
}

func TestCorroborationIsBounded(t *testing.T) {
	var c corroboration
	var st counters
	for i := range maxHeld + 3 {
		f, sem := finding(fmt.Sprint("s", i), float32(10*i), 1, 1) // each in a region of its own
		c.observe(f, sem, true, lineDist, 1, &st)
	}
	if c.len() != maxHeld || st.expired.Load() != 3 {
		t.Fatalf("held %d (bound %d), expired %d, want 3", c.len(), maxHeld, st.expired.Load())
	}
	if _, ok := c.match([]float32{0, 1}); ok {
		t.Fatal("the oldest held finding was not the one dropped")
	}
	if m, ok := c.match([]float32{float32(10 * (maxHeld + 2)), 1}); !ok || m.ID != fmt.Sprint("s", maxHeld+2) {
		t.Fatalf("the newest held finding: %v %v", m.ID, ok)
	}
}

func TestCorroborationNearIsAnotherContentWithinTau(t *testing.T) {
	var c corroboration
	var st counters
	f, sem := finding("held", 0, 1, 1)
	c.observe(f, sem, true, lineDist, 1, &st)
	for _, tc := range []struct {
		v    []float32
		want bool
	}{
		{[]float32{0.5, 1}, true},  // another content within tau: asked, to corroborate
		{[]float32{0, 2}, false},   // the held content itself: answered by match
		{[]float32{1.5, 1}, false}, // beyond tau
	} {
		if got := c.near(tc.v, tc.v, lineDist, 1); got != tc.want {
			t.Errorf("near(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestCorroborationWouldTurnOnlyAVoteTheAlarmDecides(t *testing.T) {
	// The test works in the projection space directly, through the held
	// alarm's cached projection.
	var c corroboration
	var st counters
	f, sem := finding("alarm", 0, 1, 1)
	c.observe(f, sem, true, lineDist, 1, &st)
	small := &smallmodel.Model{}
	c.held[0].proj, c.held[0].projBy = []float32{1, 0}, small

	labels := map[int]int{0: 0, 1: 0, 2: 1}
	label := func(i int) int { return labels[i] }
	// Voters: two normal items at similarity 0.9 and 0.8 and one anomalous
	// at 0.85, weakest last.
	voting := []smallmodel.Hit{{Index: 0, Similarity: 0.9}, {Index: 2, Similarity: 0.85}, {Index: 1, Similarity: 0.8}}
	for _, tc := range []struct {
		p    []float32
		want bool
	}{
		{[]float32{0.95, 0.3}, true}, // the alarm displaces the weakest normal voter: 2 of 3 anomalous
		{[]float32{0.7, 0.7}, false}, // not more similar than the weakest voter
		{[]float32{-1, 0}, false},    // far
	} {
		if got := c.turns(tc.p, []float32{9, 9}, voting, label, 0.5, small); got != tc.want {
			t.Errorf("wouldTurn(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if c.turns([]float32{0.95, 0.3}, []float32{0, 5}, voting, label, 0.5, small) {
		t.Error("the alarm's own content turned a vote (it answers that content itself)")
	}
}
