// Package demolog prepares the input of the demo and of the end-to-end test:
// a raw log file in which normal, anomalous and evolved HDFS block sessions
// are interleaved as a live system writes them, and the labels of those
// sessions. When the shared HDFS data is absent it also synthesises a small
// labelled data set so that the demo runs on a fresh machine.
package demolog

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
)

// Kinds written to the truth file's "kind" attribute.
const (
	KindNormal    = "normal"
	KindAnomalous = "anomalous"
	KindEvolved   = "evolved"
)

// KindAttr is the truth-file attribute naming a session's kind.
const KindAttr = "kind"

// Options of Compose.
type Options struct {
	Normal, Anomalous, Evolved int // sessions of each kind to include
	Seed                       uint64
}

// Compose picks sessions of each kind (evolved ones from evolved, only those
// the injector changed; never the same block as a picked original) and
// interleaves their lines at random while keeping each session's order, like
// a cluster writing many blocks at once. It returns the lines and the picked
// sessions, labelled with their kind.
func Compose(test, evolved []dataset.Session, opt Options) (lines []string, truth []dataset.Session, err error) {
	if opt.Normal < 0 || opt.Anomalous < 0 || opt.Evolved < 0 {
		return nil, nil, errors.New("demolog: negative session count")
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x64656d6f))
	used := map[string]bool{}
	pick := func(from []dataset.Session, n int, kind string, keep func(dataset.Session) bool) error {
		idx := rng.Perm(len(from))
		got := 0
		for _, i := range idx {
			if got == n {
				break
			}
			s := from[i]
			if used[s.ID] || !keep(s) || len(s.Lines) == 0 {
				continue
			}
			used[s.ID] = true
			s.Attributes = map[string]string{KindAttr: kind}
			for k, v := range from[i].Attributes {
				if k != KindAttr {
					s.Attributes[k] = v
				}
			}
			truth = append(truth, s)
			got++
		}
		if got < n {
			return fmt.Errorf("demolog: wanted %d %s sessions, found %d", n, kind, got)
		}
		return nil
	}
	// Evolved first, so that their originals are excluded from the others;
	// a quarter of them anomalous, so that both verdicts are exercised on the
	// evolved path.
	evAnom := (opt.Evolved + 3) / 4
	for _, part := range []struct{ n, label int }{{evAnom, dataset.Anomalous}, {opt.Evolved - evAnom, dataset.Normal}} {
		if err := pick(evolved, part.n, KindEvolved, func(s dataset.Session) bool {
			return s.Label == part.label && s.Attributes[dataset.EvolutionAttr] != ""
		}); err != nil {
			return nil, nil, err
		}
	}
	if err := pick(test, opt.Normal, KindNormal, func(s dataset.Session) bool { return s.Label == dataset.Normal }); err != nil {
		return nil, nil, err
	}
	if err := pick(test, opt.Anomalous, KindAnomalous, func(s dataset.Session) bool { return s.Label == dataset.Anomalous }); err != nil {
		return nil, nil, err
	}
	return Interleave(truth, rng), truth, nil
}

// Interleave merges the sessions' lines: at each step a session is drawn with
// probability proportional to its remaining lines.
func Interleave(sessions []dataset.Session, rng *rand.Rand) []string {
	next := make([]int, len(sessions))
	left := 0
	for _, s := range sessions {
		left += len(s.Lines)
	}
	out := make([]string, 0, left)
	for left > 0 {
		r := rng.IntN(left)
		for i, s := range sessions {
			rem := len(s.Lines) - next[i]
			if r < rem {
				out = append(out, s.Lines[next[i]])
				next[i]++
				break
			}
			r -= rem
		}
		left--
	}
	return out
}

// Synthetic HDFS event sequences for machines without the shared data. The
// normal shapes follow the block life cycle of the real log (receive on three
// datanodes, allocate, responders terminate, stored, optionally served,
// verified or replicated, then deleted); anomalous ones add the failure events
// of the HDFS labels (write exceptions, interrupted or failed responders,
// failed transfers, missing blocks, replication time-outs).
var (
	normalShapes = [][]int{
		{5, 5, 5, 22, 11, 9, 11, 9, 11, 9, 26, 26, 26, 23, 23, 23, 21, 21, 21},
		{22, 5, 5, 5, 11, 9, 11, 9, 11, 9, 26, 26, 26},
		{5, 22, 5, 5, 11, 9, 11, 9, 11, 9, 26, 26, 26, 3, 3, 2, 23, 23, 23, 21, 21, 21},
		{5, 5, 22, 5, 11, 9, 11, 9, 11, 9, 26, 26, 26, 25, 18, 5, 6, 16, 26, 23, 23, 23, 23, 21, 21, 21, 21},
		{5, 5, 5, 22, 11, 9, 11, 9, 11, 9, 26, 26, 26, 3, 2, 3, 3},
	}
	failureEvents = []int{7, 8, 10, 12, 13, 14, 17, 20, 28, 29}
)

// Synthesize renders n sessions, a share anomRate of them anomalous, as raw
// HDFS lines with dataset.HDFSSynth. Deterministic for a seed.
func Synthesize(n int, anomRate float64, seed uint64) []dataset.Session {
	rng := rand.New(rand.NewPCG(seed, 0x73796e74))
	syn := dataset.NewHDFSSynth(seed)
	out := make([]dataset.Session, 0, n)
	nAnom := int(anomRate*float64(n) + 0.5)
	for i := range n {
		seq := slices.Clone(normalShapes[rng.IntN(len(normalShapes))])
		label := dataset.Normal
		if i < nAnom {
			label = dataset.Anomalous
			// One or two failure events after the receive phase; a failed
			// block is often never deleted.
			for range 1 + rng.IntN(2) {
				at := 3 + rng.IntN(len(seq)-3)
				seq = slices.Insert(seq, at, failureEvents[rng.IntN(len(failureEvents))])
			}
			if rng.IntN(2) == 0 {
				seq = slices.DeleteFunc(seq, func(e int) bool { return e == 21 })
			}
		}
		out = append(out, syn.Session(seq, label))
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
