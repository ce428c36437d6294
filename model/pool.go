package model

import (
	"unsafe"

	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// SessionVector is the session representation of CoorLog: the mean of its
// line vectors, pooled as pooling says (bundle.SessionPoolMean: every line;
// bundle.SessionPoolDistinct: each distinct line vector once; "" is PoolMean). It
// returns nil for an empty session.
//
// Distinct pooling is the default for new models: on real NATS upgrades
// (BENCHMARKS.md, "Real upgrades") a fault line in a session of 40 routine
// lines otherwise moves the mean by a fortieth, and a session that repeats a
// routine event more often than the training sessions did looks new.
func SessionVector(lines [][]float32, pooling string) []float32 {
	if len(lines) == 0 {
		return nil
	}
	out := make([]float32, len(lines[0]))
	var seen map[string]struct{}
	if pooling == bundle.SessionPoolDistinct {
		seen = make(map[string]struct{}, len(lines))
	}
	n := 0
	for _, v := range lines {
		if seen != nil {
			k := vecKey(v)
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
		}
		for i, x := range v {
			out[i] += x
		}
		n++
	}
	inv := 1 / float32(n)
	for i := range out {
		out[i] *= inv
	}
	return out
}

// vecKey is v's bytes as a map key: the encoder gives identical lines
// identical vectors.
func vecKey(v []float32) string {
	if len(v) == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4))
}
