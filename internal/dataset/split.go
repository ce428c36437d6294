package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Split divides sessions into a first part holding frac of each label and a
// second part holding the rest (stratified by label), chosen by a seeded
// shuffle; both parts keep the input order. The same input, frac and seed
// always give the same split.
func Split(sessions []Session, frac float64, seed uint64) (first, second []Session, err error) {
	return split(sessions, frac, rand.NewPCG(seed, 0x53504c4954000001), func(s Session) string { return fmt.Sprint(s.Label) })
}

// SplitBy is Split stratified by a key of each session instead of its label:
// each key's sessions are shuffled on their own and frac of them (rounded) go
// to the first part, so a group as small as a fault kind with 11 sessions keeps
// its share in both parts. The same input, frac, seed and key always give the
// same split. KindOrLabel is the key the corpus splits use.
func SplitBy(sessions []Session, frac float64, seed uint64, key func(Session) string) (first, second []Session, err error) {
	return split(sessions, frac, rand.NewPCG(seed, 0x53504c4954000002), key)
}

// split shuffles each key's sessions with src, keys visited in sorted order
// (map order must not leak into the random stream), and puts frac of each
// (rounded) in the first part; both parts keep the input order.
func split(sessions []Session, frac float64, src rand.Source, key func(Session) string) (first, second []Session, err error) {
	if frac < 0 || frac > 1 || math.IsNaN(frac) {
		return nil, nil, fmt.Errorf("split fraction %v: must be in [0, 1]", frac)
	}
	rng := rand.New(src)
	byKey := map[string][]int{}
	for i, s := range sessions {
		k := key(s)
		byKey[k] = append(byKey[k], i)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	inFirst := make([]bool, len(sessions))
	for _, k := range keys {
		idx := byKey[k]
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		n := int(math.Round(frac * float64(len(idx))))
		for _, i := range idx[:n] {
			inFirst[i] = true
		}
	}
	for i, s := range sessions {
		if inFirst[i] {
			first = append(first, s)
		} else {
			second = append(second, s)
		}
	}
	return first, second, nil
}

// KindOrLabel keys a session by its label and its KindAttr attribute
// ("1/auth_timeout"); a session without a kind is keyed by its label alone.
func KindOrLabel(s Session) string {
	return fmt.Sprintf("%d/%s", s.Label, s.Attributes[KindAttr])
}

// Counts returns the number of normal and anomalous sessions.
func Counts(sessions []Session) (normal, anomalous int) {
	for _, s := range sessions {
		if s.Label == Anomalous {
			anomalous++
		} else {
			normal++
		}
	}
	return normal, anomalous
}
