// Package lexical is the lexical half of a CoorLog session vector: the
// TF-IDF of the session's masked tokens, hashed into a fixed number of
// buckets and appended to the encoder's pooled vector.
//
// Why a session vector has one. The encoder sees at most max_seq_len tokens
// of a line, and its mean hides what differs in a few of them: on the real
// multi-release corpora (BENCHMARKS.md, "Real upgrades") the small model
// alone missed every aborted Caddy request (its evidence, "error":"context
// canceled", comes after token 300 of a JSON line) and lost to a bag of
// masked tokens on NATS v2.8.4 -> v2.14.0 (0.891 against 0.915). With this
// part appended, the same code scores 1.000 / 1.000 on Caddy and 0.937 on
// that NATS pair, and is unchanged on CoreDNS. Tokens never seen in training
// are ignored, as in a TF-IDF vectoriser: what a new release adds does not
// move a session, what it keeps does.
package lexical

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// DefaultDims is the number of hash buckets of a new model.
const DefaultDims = 256

// MaxVocab bounds the tokens a model keeps (the most frequent by document
// frequency), so that a log with unmasked ids cannot grow the bundle
// without limit.
const MaxVocab = 1 << 16

// Model is a fitted lexical vectoriser. It is immutable once built and safe
// for concurrent use.
type Model struct {
	Dims int `json:"dims"`
	// IDF is the smoothed inverse document frequency of every training token,
	// ln((1+n)/(1+df))+1 as scikit-learn's TfidfVectorizer computes it.
	IDF map[string]float32 `json:"idf"`
}

// Tokens calls emit for every masked token of lines in order: each line
// through normalize.Line, lower-cased, cut at every rune that is not a
// letter, digit, '_', '<' or '>' (so placeholders such as <num> stay whole).
func Tokens(lines []string, emit func(string)) {
	for _, l := range lines {
		tokensOf(normalize.Line(l), emit)
	}
}

// tokensOf emits the tokens of one normalised line.
func tokensOf(key string, emit func(string)) {
	s := strings.ToLower(key)
	start := -1
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '<' || r == '>' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			emit(s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		emit(s[start:])
	}
}

// Counts is a session's token counts (CountsOf).
type Counts map[string]int32

// CountsOf counts the masked tokens of a session's lines.
func CountsOf(lines []string) Counts {
	c := Counts{}
	Tokens(lines, func(t string) { c[t]++ })
	return c
}

// CountsOfKeys is CountsOf of lines already normalised: keys[i] =
// normalize.Line(line i).
func CountsOfKeys(keys []string) Counts {
	c := Counts{}
	for _, k := range keys {
		tokensOf(k, func(t string) { c[t]++ })
	}
	return c
}

// Fit learns the vocabulary and its IDF from training sessions' counts
// (every session, whatever its label: IDF needs no labels). dims <= 0
// takes DefaultDims.
func Fit(sessions []Counts, dims int) *Model {
	if dims <= 0 {
		dims = DefaultDims
	}
	df := map[string]int{}
	for _, c := range sessions {
		for t := range c {
			df[t]++
		}
	}
	tokens := make([]string, 0, len(df))
	for t := range df {
		tokens = append(tokens, t)
	}
	if len(tokens) > MaxVocab {
		slices.SortFunc(tokens, func(a, b string) int {
			return cmp.Or(cmp.Compare(df[b], df[a]), strings.Compare(a, b))
		})
		tokens = tokens[:MaxVocab]
	}
	n := float64(len(sessions))
	m := &Model{Dims: dims, IDF: make(map[string]float32, len(tokens))}
	for _, t := range tokens {
		m.IDF[t] = float32(math.Log((1+n)/(1+float64(df[t]))) + 1)
	}
	return m
}

// bucket is where token t goes: FNV-1a (32 bit) of t modulo dims. It is part
// of the bundle format and never changes.
func bucket(t string, dims int) int {
	h := uint32(2166136261)
	for i := 0; i < len(t); i++ {
		h ^= uint32(t[i])
		h *= 16777619
	}
	return int(h % uint32(dims))
}

// Width is the number of values the model appends to a session vector: Dims,
// or 0 for a nil model.
func (m *Model) Width() int {
	if m == nil {
		return 0
	}
	return m.Dims
}

// Semantic is session vector sv without its lexical half (the coordinator's
// input): sv itself for a nil model.
func (m *Model) Semantic(sv []float32) []float32 { return sv[:len(sv)-m.Width()] }

// Validate checks a decoded model.
func (m *Model) Validate() error {
	if m.Dims <= 0 {
		return fmt.Errorf("lexical: %d dims", m.Dims)
	}
	for t, w := range m.IDF {
		if !(w > 0) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("lexical: token %q has idf %v", t, w)
		}
	}
	return nil
}

// VectorOfKeys is the session's lexical vector (length Dims, unit norm, or
// zero when no token is known): the TF-IDF weights of its known tokens
// summed per bucket. keys are its lines normalised: keys[i] =
// normalize.Line(line i).
func (m *Model) VectorOfKeys(keys []string) []float32 {
	v := make([]float32, m.Dims)
	for _, k := range keys {
		tokensOf(k, func(t string) {
			if w, ok := m.IDF[t]; ok {
				v[bucket(t, m.Dims)] += w
			}
		})
	}
	return unit(v)
}

// VectorOf is Vector from counts already taken (CountsOf).
func (m *Model) VectorOf(c Counts) []float32 {
	v := make([]float32, m.Dims)
	for t, n := range c {
		if w, ok := m.IDF[t]; ok {
			v[bucket(t, m.Dims)] += float32(n) * w
		}
	}
	return unit(v)
}

// Append returns semantic followed by lex scaled to semantic's norm, so that
// the two halves weigh alike in every distance the models take.
func Append(semantic, lex []float32) []float32 {
	out := make([]float32, len(semantic), len(semantic)+len(lex))
	copy(out, semantic)
	s := float32(norm(semantic))
	for _, x := range lex {
		out = append(out, s*x)
	}
	return out
}

func unit(v []float32) []float32 {
	n := norm(v)
	if n == 0 {
		return v
	}
	inv := float32(1 / n)
	for i := range v {
		v[i] *= inv
	}
	return v
}

func norm(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
