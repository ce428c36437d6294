package main

// The seams to the packages other engineers own: encoder loading, training,
// the cascade and the LLM stage. Everything else in this command talks to
// them only through these functions.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/embedcache"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/llm"
	"github.com/coorlog/coorlogprocessor/model/normalize"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

func newCache(enc model.Encoder) model.Encoder { return embedcache.New(enc, 0) }

// loadEncoder opens the encoder named by a bundle: "default" is the shipped
// compact encoder, anything else a Hugging Face checkpoint directory.
func loadEncoder(ref string, threads int) (model.Encoder, func(), error) {
	if ref == "" || ref == "default" {
		return nil, nil, errors.New("the default encoder is not available in this build yet; pass --encoder DIR")
	}
	e, err := encoder.Load(ref, encoder.Options{Threads: threads})
	if err != nil {
		return nil, nil, err
	}
	return e, func() { e.Close() }, nil
}

// trainBundle trains coordinator, small model and memory on encoded
// sessions: the coordinator on every old-version training session with tau
// from valid, the small model and the kNN memory on the labelled training
// sessions.
func trainBundle(ctx context.Context, train, valid []dataset.Session, enc model.Encoder, ref string, seed int64, stderr io.Writer) (*bundle.Bundle, error) {
	t0 := time.Now()
	trainVecs, err := encodeSessions(ctx, enc, train, "encode train", stderr)
	if err != nil {
		return nil, err
	}
	validVecs, err := encodeSessions(ctx, enc, valid, "encode valid", stderr)
	if err != nil {
		return nil, err
	}
	tEnc := time.Since(t0)

	t1 := time.Now()
	ccfg := coordinator.DefaultConfig()
	ccfg.Seed = seed
	bar := newProgress(stderr, "train coordinator", ccfg.Epochs)
	coord, err := coordinator.Train(ctx, trainVecs, validVecs, ccfg, func(coordinator.Progress) { bar.Add(1) })
	bar.Done()
	if err != nil {
		return nil, fmt.Errorf("training the coordinator: %w", err)
	}
	tCoord := time.Since(t1)

	t2 := time.Now()
	scfg := smallmodel.DefaultConfig()
	scfg.Seed = seed
	samples := make([]smallmodel.Sample, len(train))
	items := make([]smallmodel.Item, len(train))
	for i, s := range train {
		samples[i] = smallmodel.Sample{Vec: trainVecs[i], Label: s.Label}
		items[i] = smallmodel.Item{ID: s.ID, Label: s.Label, Lines: s.Lines, Key: normalize.TemplateKey(s.Lines), Vec: trainVecs[i]}
	}
	bar = newProgress(stderr, "train small model", scfg.Epochs)
	small, err := smallmodel.Train(ctx, samples, scfg, func(smallmodel.Progress) { bar.Add(1) })
	bar.Done()
	if err != nil {
		return nil, fmt.Errorf("training the small model: %w", err)
	}
	mem, err := smallmodel.NewMemory(smallmodel.DefaultMemoryConfig(), small, items)
	if err != nil {
		return nil, fmt.Errorf("building the kNN memory: %w", err)
	}
	tSmall := time.Since(t2)
	_, anomalous := dataset.Counts(train)
	return &bundle.Bundle{
		Manifest: bundle.Manifest{
			FormatVersion: bundle.FormatVersion,
			ModelVersion:  fmt.Sprintf("cli-%d", time.Now().Unix()),
			Created:       time.Now().UTC(),
			Encoder:       bundle.EncoderRef{Name: ref, Dim: enc.Dim()},
			Coordinator:   coord.Config(),
			Tau:           coord.Tau(),
			SmallModel:    small.Config(),
			Memory:        mem.Config(),
			MemoryItems:   mem.Len(),
			MemoryClasses: mem.ClassCounts(),
			Training: bundle.TrainInfo{
				TrainSessions: len(train), ValidSessions: len(valid), Anomalous: anomalous, Seed: seed,
				EncodeSeconds: tEnc.Seconds(), CoordinatorSeconds: tCoord.Seconds(), SmallModelSeconds: tSmall.Seconds(),
			},
		},
		Coordinator: coord,
		Small:       small,
		Memory:      mem,
	}, nil
}

// encodeSessions returns one session vector per session.
func encodeSessions(ctx context.Context, enc model.Encoder, ss []dataset.Session, label string, stderr io.Writer) ([][]float32, error) {
	out := make([][]float32, len(ss))
	bar := newProgress(stderr, label, len(ss))
	defer bar.Done()
	for i, s := range ss {
		vecs, err := enc.Embed(ctx, s.Lines)
		if err != nil {
			return nil, fmt.Errorf("encoding session %s: %w", s.ID, err)
		}
		out[i] = model.SessionVector(vecs)
		if out[i] == nil {
			out[i] = make([]float32, enc.Dim()) // an empty session: the zero vector
		}
		bar.Add(1)
	}
	return out, nil
}

// newCascade builds the CoorLog detector over a bundle; close stops AEM.
// Stand-in until the model package's Cascade lands: the routing without AEM.
func newCascade(ctx context.Context, b *bundle.Bundle, enc model.Encoder, judge model.Judge, aem bool) (model.Detector, func() error, error) {
	if aem && os.Getenv("COORLOG_STANDIN_AEM") == "" {
		return nil, nil, errors.New("AEM is not available in this build yet")
	}
	return &standInCascade{st: &stages{enc: enc, b: b}, judge: judge}, func() error { return nil }, nil
}

type standInCascade struct {
	st    *stages
	judge model.Judge
}

func (c *standInCascade) Detect(ctx context.Context, s model.Session) (model.Verdict, error) {
	r, err := c.st.run(ctx, s.Lines)
	if err != nil {
		return model.Verdict{}, err
	}
	v := model.Verdict{Score: r.smScore, Anomaly: r.smAnomaly, Evolved: r.evolved, RecError: r.rec, Route: model.RouteSmallModel}
	if !r.evolved {
		return v, nil
	}
	if c.judge == nil {
		v.Route = model.RouteFallback
		return v, nil
	}
	j, err := c.judge.Judge(ctx, s, c.st.neighbours(r.vec, neighboursK))
	if err != nil {
		v.Route, v.Reason = model.RouteFallback, err.Error()
		return v, nil
	}
	v.Score, v.Anomaly, v.Reason, v.Route = j.Score, j.Anomaly, j.Reason, model.RouteLLM
	if j.Cached {
		v.Route = model.RouteCache
	}
	return v, nil
}

// buildJudge returns the LLM stage the flags select. The simulated LLM
// answers from the labels of the sessions being evaluated.
func buildJudge(lf *llmFlags, test []dataset.Session, seed int64) (model.Judge, error) {
	if lf.simulated {
		labels := make(map[string]int, len(test))
		for _, s := range test {
			labels[s.ID] = s.Label
		}
		return llm.NewSimulated(labels, lf.accuracy, seed), nil
	}
	cfg := llm.DefaultConfig()
	cfg.BaseURL, cfg.Model = lf.endpoint, lf.model
	cfg.APIKey = os.Getenv(llmKeyEnv)
	j, err := llm.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the LLM endpoint: %w", err)
	}
	return j, nil
}

// normalizeLine is the template function of the evolution injector and the
// baselines.
func normalizeLine(l string) string { return normalize.Line(l) }
