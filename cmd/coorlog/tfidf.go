package main

import (
	"context"
	"fmt"
	"math"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/lexical"
)

// tfidfK is the neighbour count of baseline (g), fixed before looking at any
// result (the setting issue 11 measured).
const tfidfK = 5

// tfidfKNN is baseline (g), a lexical kNN over masked tokens: a session is
// the bag of tokens of its normalised lines (tfidfTokens), weighted by TF-IDF
// as scikit-learn's TfidfVectorizer does by default (raw counts times the
// smoothed idf ln((1+n)/(1+df))+1, L2-normalised), and gets the majority
// label of its k most cosine-similar training sessions (equal similarities
// in training order; a tie in the vote is normal). Tokens never seen in
// training are ignored. Unlike (e) and (f) it learns from every training
// session and its label; no encoder, no LLM. It is the bag of tokens that
// the cascade must beat on real upgrades.
type tfidfKNN struct {
	k        int
	vocab    map[string]int32
	idf      []float64
	postings [][]posting // term -> training sessions that hold it, with weight
	labels   []int
}

type posting struct {
	doc int32
	w   float64
}

// tfidfTokens are the masked tokens of a session (lexical.Tokens: the
// tokens of the cascade's own lexical half).
func tfidfTokens(lines []string) []string {
	var out []string
	lexical.Tokens(lines, func(t string) { out = append(out, t) })
	return out
}

func trainTFIDFKNN(train []dataset.Session, k int) *tfidfKNN {
	m := &tfidfKNN{k: k, vocab: map[string]int32{}, labels: make([]int, len(train))}
	var df []int
	docs := make([]map[int32]int, len(train))
	for i, s := range train {
		m.labels[i] = s.Label
		tf := map[int32]int{}
		for _, t := range tfidfTokens(s.Lines) {
			id, ok := m.vocab[t]
			if !ok {
				id = int32(len(df))
				m.vocab[t] = id
				df = append(df, 0)
			}
			if tf[id] == 0 {
				df[id]++
			}
			tf[id]++
		}
		docs[i] = tf
	}
	n := float64(len(train))
	m.idf = make([]float64, len(df))
	for id, d := range df {
		m.idf[id] = math.Log((1+n)/(1+float64(d))) + 1
	}
	m.postings = make([][]posting, len(df))
	for i, tf := range docs {
		for id, w := range m.weigh(tf) {
			m.postings[id] = append(m.postings[id], posting{doc: int32(i), w: w})
		}
	}
	return m
}

// weigh turns term counts into the L2-normalised TF-IDF vector.
func (m *tfidfKNN) weigh(tf map[int32]int) map[int32]float64 {
	v := make(map[int32]float64, len(tf))
	norm := 0.0
	for id, c := range tf {
		w := float64(c) * m.idf[id]
		v[id] = w
		norm += w * w
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for id := range v {
			v[id] /= norm
		}
	}
	return v
}

// Detect is safe for concurrent use (the model is read-only).
func (m *tfidfKNN) Detect(ctx context.Context, s model.Session) (model.Verdict, error) {
	if err := ctx.Err(); err != nil {
		return model.Verdict{}, err
	}
	tf := map[int32]int{}
	for _, t := range tfidfTokens(s.Lines) {
		if id, ok := m.vocab[t]; ok {
			tf[id]++
		}
	}
	sim := make([]float64, len(m.labels))
	for id, w := range m.weigh(tf) {
		for _, p := range m.postings[id] {
			sim[p.doc] += w * p.w
		}
	}
	// The k best by similarity, earlier training sessions first on ties.
	best := make([]int, 0, m.k+1)
	for d := range sim {
		i := len(best)
		for i > 0 && sim[d] > sim[best[i-1]] {
			i--
		}
		if i < m.k {
			best = append(best, 0)
			copy(best[i+1:], best[i:])
			best[i] = d
			if len(best) > m.k {
				best = best[:m.k]
			}
		}
	}
	anom := 0
	for _, d := range best {
		if m.labels[d] != dataset.Normal {
			anom++
		}
	}
	v := model.Verdict{Route: "tfidf_knn", Score: ratio(anom, len(best)), Anomaly: 2*anom > len(best),
		Reason: fmt.Sprintf("%d of the %d nearest training sessions (TF-IDF cosine) anomalous", anom, len(best))}
	if len(best) == 0 {
		v.Score = 0
	}
	return v, nil
}
