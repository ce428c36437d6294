package demolog

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
)

var blk = regexp.MustCompile(`blk_-?\d+`)

func TestSynthesizeIsDeterministicWithTheAskedRate(t *testing.T) {
	a := Synthesize(200, 0.1, 3)
	b := Synthesize(200, 0.1, 3)
	require.Equal(t, a, b)
	n, anom := dataset.Counts(a)
	assert.Equal(t, 180, n)
	assert.Equal(t, 20, anom)
	for _, s := range a {
		for _, l := range s.Lines {
			require.Contains(t, l, s.ID, "every line names its block")
		}
	}
}

func TestComposeKeepsSessionsDisjointAndOrdered(t *testing.T) {
	test := Synthesize(120, 0.2, 1)
	// Evolved copies keep the block ids of their originals.
	evolved := make([]dataset.Session, len(test))
	for i, s := range test {
		s.Lines = append([]string(nil), s.Lines...)
		for j := range s.Lines {
			s.Lines[j] = strings.Replace(s.Lines[j], "INFO", "INFO v2", 1)
		}
		s.Attributes = map[string]string{dataset.EvolutionAttr: "changed-prefix"}
		evolved[i] = s
	}
	lines, truth, err := Compose(test, evolved, Options{Normal: 10, Anomalous: 5, Evolved: 8, Seed: 9})
	require.NoError(t, err)
	require.Len(t, truth, 23)

	kinds := map[string]int{}
	ids := map[string]bool{}
	total := 0
	for _, s := range truth {
		kinds[s.Attributes[KindAttr]]++
		require.False(t, ids[s.ID], "block %s picked twice", s.ID)
		ids[s.ID] = true
		total += len(s.Lines)
		if s.Attributes[KindAttr] == KindEvolved {
			assert.Contains(t, s.Lines[0], "INFO v2")
		}
	}
	assert.Equal(t, map[string]int{KindNormal: 10, KindAnomalous: 5, KindEvolved: 8}, kinds)
	require.Len(t, lines, total)

	// Each session's lines appear in its own order.
	for _, s := range truth {
		var got []string
		for _, l := range lines {
			if blk.FindString(l) == s.ID {
				got = append(got, l)
			}
		}
		require.Equal(t, s.Lines, got, s.ID)
	}

	_, _, err = Compose(test, evolved, Options{Normal: 1000})
	assert.ErrorContains(t, err, "wanted 1000 normal sessions")
}

func TestInterleaveWindowBoundsOpenSessions(t *testing.T) {
	sessions := Synthesize(300, 0.1, 2)
	lines := InterleaveWindow(sessions, 10, rand.New(rand.NewPCG(1, 2)))
	total := 0
	last := map[string]int{}
	first := map[string]int{}
	for _, s := range sessions {
		total += len(s.Lines)
	}
	require.Len(t, lines, total)
	for i, l := range lines {
		id := blk.FindString(l)
		if _, ok := first[id]; !ok {
			first[id] = i
		}
		last[id] = i
	}
	// At no point are more than 10 sessions between their first and last line.
	for i := range lines {
		open := 0
		for id := range first {
			if first[id] <= i && i <= last[id] {
				open++
			}
		}
		require.LessOrEqual(t, open, 10, "line %d", i)
	}
}

// TestComposeConcurrent: with Concurrent, at most that many sessions are in
// progress at any line, each keeps its order, and the kinds are mixed along
// the file (not all evolved sessions first, as they are picked).
func TestComposeConcurrent(t *testing.T) {
	test := Synthesize(400, 0.1, 4)
	evolved := make([]dataset.Session, len(test))
	for i, s := range test {
		s.Attributes = map[string]string{dataset.EvolutionAttr: "changed-prefix"}
		evolved[i] = s
	}
	lines, truth, err := Compose(test, evolved, Options{Normal: 200, Anomalous: 20, Evolved: 40, Seed: 3, Concurrent: 8})
	require.NoError(t, err)
	kind := map[string]string{}
	want := map[string][]string{}
	for _, s := range truth {
		kind[s.ID] = s.Attributes[KindAttr]
		want[s.ID] = s.Lines
	}
	first, last := map[string]int{}, map[string]int{}
	got := map[string][]string{}
	for i, l := range lines {
		id := blk.FindString(l)
		if _, ok := first[id]; !ok {
			first[id] = i
		}
		last[id] = i
		got[id] = append(got[id], l)
	}
	assert.Equal(t, want, got, "every session whole, in its own order")
	for i := range lines {
		open := 0
		for id := range first {
			if first[id] <= i && i <= last[id] {
				open++
			}
		}
		require.LessOrEqual(t, open, 8, "sessions in progress at line %d", i)
	}
	evolvedEarly := 0
	for _, s := range truth[:40] { // the picked evolved sessions
		if first[s.ID] < len(lines)/3 {
			evolvedEarly++
		}
	}
	assert.Less(t, evolvedEarly, 30, "evolved sessions spread along the file")
	assert.Equal(t, KindEvolved, kind[truth[0].ID])
}
