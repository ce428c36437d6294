package model

import (
	"bytes"
	"context"
	"hash/maphash"
	"unsafe"

	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/lexical"
	"github.com/coorlog/coorlogprocessor/model/normalize"
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
	var seen *distinctVecs
	if pooling == bundle.SessionPoolDistinct {
		seen = &distinctVecs{first: make(map[uint64][]float32, len(lines))}
	}
	n := 0
	for _, v := range lines {
		if seen != nil && !seen.add(v) {
			continue
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

// SessionVectorOf is the session vector of a session's lines as the models
// of a bundle take it (ref = its manifest's encoder): the line vectors
// pooled as ref says, followed by the lexical part when ref has one. nil for
// an empty session.
func SessionVectorOf(ref bundle.EncoderRef, lineVecs [][]float32, lines []string) []float32 {
	return sessionVector(lineVecs, lineKeys(lines), ref.SessionPoolingOf(), ref.Lexical)
}

// sessionVector is the session vector of line vectors lineVecs whose lines,
// normalised (lineKeys), are keys: pooled as pooling says, followed by the
// lexical half when lx is not nil.
func sessionVector(lineVecs [][]float32, keys []string, pooling string, lx *lexical.Model) []float32 {
	sv := SessionVector(lineVecs, pooling)
	if sv == nil || lx == nil {
		return sv
	}
	return lexical.Append(sv, lx.VectorOfKeys(keys))
}

// distinctVecs is a set of line vectors by their bits: the embedding cache
// gives every occurrence of a line the same bits (model/embedcache). It keys
// them by a hash of the bits and compares the bits on a hit, so that no key
// copies a vector (a string key of 768 floats is 3 KiB per distinct line).
type distinctVecs struct {
	first map[uint64][]float32 // by hash: the first vector with that hash
	more  [][]float32          // vectors whose hash another vector had first
}

var vecSeed = maphash.MakeSeed()

// add reports whether v's bits are new to the set, and adds them.
func (d *distinctVecs) add(v []float32) bool {
	b := vecBytes(v)
	h := maphash.Bytes(vecSeed, b)
	u, ok := d.first[h]
	if !ok {
		d.first[h] = v
		return true
	}
	if bytes.Equal(vecBytes(u), b) {
		return false
	}
	for _, u := range d.more {
		if bytes.Equal(vecBytes(u), b) {
			return false
		}
	}
	d.more = append(d.more, v)
	return true
}

// vecBytes is v's memory as bytes.
func vecBytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)
}

// embedForPooling embeds lines to pool them: the encoder's shared vectors
// when it offers them (embedcache.Cache.EmbedShared: no copy per line), which
// are only read here, else Embed's copies. keys, when not nil, are the lines
// normalised (normalize.Line), for an encoder that can take them.
func embedForPooling(ctx context.Context, enc Encoder, lines, keys []string) ([][]float32, error) {
	if e, ok := enc.(interface {
		EmbedSharedKeys(context.Context, []string, []string) ([][]float32, error)
	}); ok && keys != nil {
		return e.EmbedSharedKeys(ctx, lines, keys)
	}
	if e, ok := enc.(interface {
		EmbedShared(context.Context, []string) ([][]float32, error)
	}); ok {
		return e.EmbedShared(ctx, lines)
	}
	return enc.Embed(ctx, lines)
}

// lineKeys is every line through normalize.Line: a session's lines are
// normalised once, for the embedding cache's keys and the lexical half.
func lineKeys(lines []string) []string {
	keys := make([]string, len(lines))
	for i, l := range lines {
		keys[i] = normalize.Line(l)
	}
	return keys
}
