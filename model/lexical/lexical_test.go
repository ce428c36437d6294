package lexical

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/normalize"
)

func tokens(lines ...string) []string {
	var out []string
	Tokens(lines, func(t string) { out = append(out, t) })
	return out
}

func TestTokens(t *testing.T) {
	got := tokens(`[INF] 10.0.0.1:4222 - cid:7 - "v1.2.3" Client Closed: error="context canceled"`, "", "ünïcode_ok x")
	// normalize.Line masks the address and numbers; placeholders stay whole.
	for _, want := range []string{"<ip>", "cid", "client", "closed", "error", "context", "canceled", "ünïcode_ok", "x"} {
		if !slices.Contains(got, want) {
			t.Errorf("tokens %q lack %q", got, want)
		}
	}
	for _, tok := range got {
		if tok == "" || strings.ContainsAny(tok, ` :"=-[].`) || tok != strings.ToLower(tok) {
			t.Errorf("token %q: want lower-case letters, digits, '_', '<', '>' only", tok)
		}
	}
}

func fitOn(sessions ...[]string) *Model {
	cs := make([]Counts, len(sessions))
	for i, s := range sessions {
		cs[i] = CountsOf(s)
	}
	return Fit(cs, 16)
}

func TestFitIDF(t *testing.T) {
	m := fitOn([]string{"open read close"}, []string{"open write close"}, []string{"open close"})
	if m.Dims != 16 || len(m.IDF) != 4 {
		t.Fatalf("dims %d, vocabulary %v", m.Dims, m.IDF)
	}
	// Smoothed idf ln((1+n)/(1+df))+1: a token in every session weighs 1.
	if w := m.IDF["open"]; math.Abs(float64(w)-1) > 1e-6 {
		t.Errorf("idf(open) = %v, want 1", w)
	}
	if w, want := m.IDF["read"], math.Log(4.0/2)+1; math.Abs(float64(w)-want) > 1e-6 {
		t.Errorf("idf(read) = %v, want %v", w, want)
	}
	if Fit(nil, 0).Dims != DefaultDims {
		t.Error("dims 0 does not take DefaultDims")
	}
}

func TestVector(t *testing.T) {
	m := fitOn([]string{"open read close"}, []string{"open write close"}, []string{"open close"})
	v := vector(m, []string{"open read close"})
	if len(v) != 16 || math.Abs(norm(v)-1) > 1e-6 {
		t.Fatalf("vector %v: want 16 values of unit norm", v)
	}
	// Counts and lines give the same vector; order of lines does not matter.
	if w := m.VectorOf(CountsOf([]string{"close", "open read"})); maxDiff(v, w) > 1e-6 {
		t.Errorf("VectorOf(counts) = %v, VectorOfKeys = %v", w, v)
	}
	if c, d := CountsOf([]string{"open read close"}), CountsOfKeys([]string{normalize.Line("open read close")}); len(c) != 3 || len(d) != 3 || c["read"] != d["read"] {
		t.Errorf("CountsOfKeys(normalised lines) = %v, CountsOf(lines) = %v", d, c)
	}
	// Tokens never seen in training are ignored: a new release's additions
	// do not move the vector.
	if w := vector(m, []string{"open read close client_version=9 brand new words"}); maxDiff(v, w) > 1e-6 {
		t.Errorf("unseen tokens moved the vector: %v vs %v", w, v)
	}
	// A rare token counts for more than a common one.
	if a, b := vector(m, []string{"open read"}), vector(m, []string{"open close"}); maxDiff(a, b) == 0 {
		t.Error("different sessions, same vector")
	}
	if z := vector(m, []string{"nothing known"}); norm(z) != 0 || len(z) != 16 {
		t.Errorf("no known token: %v, want 16 zeros", z)
	}
}

// vector is the lexical vector of raw lines (the cascade normalises them once
// for the embedding cache and this half).
func vector(m *Model, lines []string) []float32 {
	keys := make([]string, len(lines))
	for i, l := range lines {
		keys[i] = normalize.Line(l)
	}
	return m.VectorOfKeys(keys)
}

func TestAppend(t *testing.T) {
	sem := []float32{3, 4} // norm 5
	out := Append(sem, []float32{0.6, 0.8})
	if want := []float32{3, 4, 3, 4}; maxDiff(out, want) > 1e-6 {
		t.Fatalf("Append = %v, want %v (lexical half scaled to the semantic half's norm)", out, want)
	}
	out[0] = 99
	if sem[0] != 3 {
		t.Fatal("Append wrote into its input")
	}
	if (*Model)(nil).Width() != 0 || fitOn([]string{"a"}).Width() != 16 {
		t.Fatal("Width")
	}
}

func TestFitCapsVocabulary(t *testing.T) {
	// One session with more distinct tokens than MaxVocab, one with a few:
	// the most frequent by document frequency are kept.
	big := Counts{"shared": 1}
	for i := 0; i < MaxVocab+10; i++ {
		big["t"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i)] = 1
	}
	m := Fit([]Counts{big, {"shared": 2}}, 8)
	if len(m.IDF) != MaxVocab {
		t.Fatalf("vocabulary %d, want MaxVocab %d", len(m.IDF), MaxVocab)
	}
	if _, ok := m.IDF["shared"]; !ok {
		t.Fatal("the token in both sessions was dropped")
	}
}

func TestJSONRoundTripAndValidate(t *testing.T) {
	m := fitOn([]string{"open read close"}, []string{"open close"})
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Model
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
	lines := []string{"open read close"}
	if maxDiff(vector(m, lines), vector(&back, lines)) != 0 {
		t.Fatal("a decoded model gives other vectors")
	}
	for _, bad := range []Model{{Dims: 0}, {Dims: 4, IDF: map[string]float32{"a": 0}}, {Dims: 4, IDF: map[string]float32{"a": float32(math.NaN())}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
}

// TestBucketIsFNV1a pins the hash: it is part of the bundle format.
func TestBucketIsFNV1a(t *testing.T) {
	for _, c := range []struct {
		tok  string
		want uint32
	}{{"", 2166136261}, {"a", 0xe40c292c}, {"foobar", 0xbf9cf968}} {
		if got := bucket(c.tok, math.MaxInt32); got != int(c.want%math.MaxInt32) {
			t.Errorf("bucket(%q) = %d, want FNV-1a %#x mod 2^31-1", c.tok, got, c.want)
		}
	}
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
		if i == 0 {
			return string(b)
		}
	}
}
