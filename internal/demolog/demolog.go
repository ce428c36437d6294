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
const KindAttr = dataset.KindAttr

// Options of Compose.
type Options struct {
	Normal, Anomalous, Evolved int // sessions of each kind to include
	Seed                       uint64
	// Concurrent, when positive, keeps at most that many sessions in
	// progress at a time (InterleaveWindow over the picked sessions in a
	// random order), as on a live cluster; 0 interleaves them all at once.
	Concurrent int
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
	if opt.Concurrent > 0 {
		order := slices.Clone(truth)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		return InterleaveWindow(order, opt.Concurrent, rng), truth, nil
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

// InterleaveWindow is Interleave over a sliding window of at most window
// sessions in progress: a session starts when another ends, as blocks come
// and go on a live cluster (window <= 0 interleaves all of them at once).
func InterleaveWindow(sessions []dataset.Session, window int, rng *rand.Rand) []string {
	if window <= 0 || window >= len(sessions) {
		return Interleave(sessions, rng)
	}
	type cur struct{ s, next int }
	active := make([]cur, 0, window)
	started, total := 0, 0
	for _, s := range sessions {
		total += len(s.Lines)
	}
	out := make([]string, 0, total)
	for len(out) < total {
		for len(active) < window && started < len(sessions) {
			if len(sessions[started].Lines) > 0 {
				active = append(active, cur{s: started})
			}
			started++
		}
		i := rng.IntN(len(active))
		a := &active[i]
		out = append(out, sessions[a.s].Lines[a.next])
		a.next++
		if a.next == len(sessions[a.s].Lines) {
			active[i] = active[len(active)-1]
			active = active[:len(active)-1]
		}
	}
	return out
}

// failureEvents are the HDFS events that only anomalous blocks record (write
// exceptions, interrupted or failed responders, failed transfers, missing
// blocks, replication time-outs).
var failureEvents = []int{7, 8, 10, 12, 13, 14, 17, 20, 28, 29}

// normalSequence draws one normal block life cycle in the shape of the real
// log: receive on three datanodes (allocation somewhere among them), three
// responders terminating with their "received" lines in either order, three
// stored blocks interleaved with them, then optionally served and verified
// reads, a re-replication, and the deletion on each datanode.
func normalSequence(rng *rand.Rand) []int {
	seq := []int{5, 5, 5}
	seq = slices.Insert(seq, rng.IntN(4), 22)
	stored := 0
	for range 3 {
		if rng.IntN(2) == 0 {
			seq = append(seq, 11, 9)
		} else {
			seq = append(seq, 9, 11)
		}
		if rng.IntN(3) == 0 { // the name node records a store early
			seq = append(seq, 26)
			stored++
		}
	}
	for ; stored < 3; stored++ {
		seq = append(seq, 26)
	}
	for range rng.IntN(4) { // reads
		seq = append(seq, 3)
	}
	if rng.IntN(4) == 0 {
		seq = append(seq, 2)
	}
	if rng.IntN(6) == 0 { // re-replication to a fourth datanode
		seq = append(seq, 25, 18, 5, 6, 16, 26)
	}
	if rng.IntN(10) < 7 { // deleted later in the log
		n := 3
		if seq[len(seq)-1] == 26 && rng.IntN(4) == 0 {
			n = 4
		}
		if rng.IntN(2) == 0 {
			for range n {
				seq = append(seq, 23)
			}
			for range n {
				seq = append(seq, 21)
			}
		} else {
			for range n {
				seq = append(seq, 23, 21)
			}
		}
	}
	return seq
}

// anomalousSequence breaks a normal life cycle: failure events inserted after
// the receive phase, and often a block that is never fully stored or deleted.
func anomalousSequence(rng *rand.Rand) []int {
	seq := normalSequence(rng)
	if rng.IntN(3) == 0 { // the write aborted: only part of the pipeline reported
		seq = seq[:4+rng.IntN(4)]
	}
	for range 1 + rng.IntN(2) {
		at := 3 + rng.IntN(len(seq)-2)
		seq = slices.Insert(seq, at, failureEvents[rng.IntN(len(failureEvents))])
	}
	if rng.IntN(2) == 0 {
		seq = slices.DeleteFunc(seq, func(e int) bool { return e == 21 })
	}
	return seq
}

// Synthesize renders n sessions, a share anomRate of them anomalous, as raw
// HDFS lines with dataset.HDFSSynth. Deterministic for a seed. It stands in
// for the shared HDFS data on machines without it; the demo says so.
func Synthesize(n int, anomRate float64, seed uint64) []dataset.Session {
	rng := rand.New(rand.NewPCG(seed, 0x73796e74))
	syn := dataset.NewHDFSSynth(seed)
	out := make([]dataset.Session, 0, n)
	nAnom := int(anomRate*float64(n) + 0.5)
	for i := range n {
		if i < nAnom {
			out = append(out, syn.Session(anomalousSequence(rng), dataset.Anomalous))
		} else {
			out = append(out, syn.Session(normalSequence(rng), dataset.Normal))
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
