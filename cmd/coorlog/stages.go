package main

import (
	"context"
	"fmt"
	"time"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// stages runs the cascade's stages one by one on a session, timing each.
// eval uses it for the per-stage times, the small model's verdict on every
// session (the tau figure needs it on both sides of tau), and the two
// single-stage methods of the benchmark (small model alone, every session to
// the LLM).
type stages struct {
	enc model.Encoder // the embedding cache over the bundle's encoder
	b   *bundle.Bundle
}

type stageResult struct {
	vec                     []float32
	rec                     float64
	evolved                 bool
	smScore                 float64
	smAnomaly               bool
	hits                    []smallmodel.Hit
	encode, coord, smallDur time.Duration
}

// neighboursK is how many memory neighbours go to the LLM stage when every
// session is sent to it: the cascade's default, so that (b) and (c) ask the
// same questions.
const neighboursK = 5

func (st *stages) run(ctx context.Context, lines []string) (stageResult, error) {
	var r stageResult
	t0 := time.Now()
	vecs, err := st.enc.Embed(ctx, lines)
	if err != nil {
		return r, fmt.Errorf("encoding: %w", err)
	}
	r.vec = model.SessionVectorOf(st.b.Manifest.Encoder, vecs, lines)
	t1 := time.Now()
	r.encode = t1.Sub(t0)
	if r.vec == nil {
		r.vec = make([]float32, st.b.Small.Dim())
	}
	r.rec, r.evolved = st.b.Coordinator.Evolved(st.b.Manifest.Encoder.Lexical.Semantic(r.vec))
	t2 := time.Now()
	r.coord = t2.Sub(t1)
	r.smScore, r.smAnomaly, r.hits = st.b.Memory.Classify(st.b.Small, r.vec)
	r.smallDur = time.Since(t2)
	return r, nil
}

func (st *stages) neighbours(v []float32, k int) []model.Neighbour {
	hits := st.b.Memory.Search(st.b.Small.Project(v), k)
	out := make([]model.Neighbour, len(hits))
	for i, h := range hits {
		it := st.b.Memory.Item(h.Index)
		out[i] = model.Neighbour{ID: it.ID, Lines: it.Lines, Label: it.Label, Similarity: float64(h.Similarity)}
	}
	return out
}

// smallOnly is method (a): the small model decides every session.
type smallOnly struct{ st *stages }

func (d smallOnly) Detect(ctx context.Context, s model.Session) (model.Verdict, error) {
	r, err := d.st.run(ctx, s.Lines)
	if err != nil {
		return model.Verdict{}, err
	}
	return model.Verdict{Score: r.smScore, Anomaly: r.smAnomaly, Evolved: r.evolved, RecError: r.rec, Route: model.RouteSmallModel}, nil
}

// llmAll is method (b): every session goes to the LLM stage with its memory
// neighbours; a failed LLM answer falls back to the small model.
type llmAll struct {
	st    *stages
	judge model.Judge
}

func (d llmAll) Detect(ctx context.Context, s model.Session) (model.Verdict, error) {
	r, err := d.st.run(ctx, s.Lines)
	if err != nil {
		return model.Verdict{}, err
	}
	j, err := d.judge.Judge(ctx, s, d.st.neighbours(r.vec, neighboursK))
	if err != nil {
		return model.Verdict{Score: r.smScore, Anomaly: r.smAnomaly, Evolved: r.evolved, RecError: r.rec, Route: model.RouteFallback, Reason: err.Error()}, nil
	}
	route := model.RouteLLM
	if j.Cached {
		route = model.RouteCache
	}
	return model.Verdict{Score: j.Score, Anomaly: j.Anomaly, Evolved: r.evolved, RecError: r.rec, Route: route, Reason: j.Reason}, nil
}
