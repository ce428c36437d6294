package model

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/lexical"
	"github.com/coorlog/coorlogprocessor/model/normalize"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// LabelledSession is a session with its label (0 normal, 1 anomalous), as in
// the JSONL exchange format.
type LabelledSession struct {
	ID    string
	Label int
	Lines []string
}

// TrainOptions configure Train. Zero fields take each package's defaults.
type TrainOptions struct {
	Coordinator coordinator.Config
	Small       smallmodel.Config
	Memory      smallmodel.MemoryConfig
	Encoder     bundle.EncoderRef // recorded in the manifest (Dim, SessionPooling and Normalizer are filled in)
	// SessionPooling is how line vectors become a session vector (bundle.SessionPoolDistinct
	// or bundle.SessionPoolMean); default bundle.SessionPoolDistinct.
	SessionPooling string
	// LexicalDims is the width of the session vectors' lexical half (package
	// lexical), fitted on the training sessions; 0 takes
	// lexical.DefaultDims, a negative value leaves it out.
	LexicalDims int
	Version     string // model version; default "coorlog-<UTC time>"
	Key         func([]string) string
	Now         func() time.Time // clock for Created; default time.Now
}

// Train builds a bundle from labelled old-version sessions, as in CoorLog:
// the coordinator learns the whole old distribution (normal and anomalous
// sessions) and takes tau from valid (or, if valid is empty, from a held-out
// split of train); the small model and the kNN memory learn the labelled
// train sessions. Progress lines go to progress when it is not nil.
func Train(ctx context.Context, enc Encoder, train, valid []LabelledSession, opts TrainOptions, progress io.Writer) (*bundle.Bundle, error) {
	if len(train) == 0 {
		return nil, errors.New("train: no training sessions")
	}
	for _, set := range [][]LabelledSession{train, valid} {
		for _, s := range set {
			if s.Label != 0 && s.Label != 1 {
				return nil, fmt.Errorf("train: session %s has label %d, want 0 or 1", s.ID, s.Label)
			}
			if len(s.Lines) == 0 {
				return nil, fmt.Errorf("train: session %s has no lines", s.ID)
			}
		}
	}
	if opts.SessionPooling == "" {
		opts.SessionPooling = bundle.SessionPoolDistinct
	}
	t0 := time.Now()
	opts.Encoder.Lexical = fitLexical(train, opts.LexicalDims)
	trainVecs, err := EncodeSessions(ctx, enc, train, opts.SessionPooling, opts.Encoder.Lexical, progressf(progress, "encode train"))
	if err != nil {
		return nil, err
	}
	validVecs, err := EncodeSessions(ctx, enc, valid, opts.SessionPooling, opts.Encoder.Lexical, progressf(progress, "encode valid"))
	if err != nil {
		return nil, err
	}
	info := bundle.TrainInfo{TrainSessions: len(train), ValidSessions: len(valid), EncodeSeconds: time.Since(t0).Seconds()}
	probe, err := encoderProbe(ctx, enc, train)
	if err != nil {
		return nil, err
	}
	return trainVectors(ctx, train, trainVecs, validVecs, probe, opts, info, nil, progress)
}

// probeLines is how many distinct training lines EncoderRef.Probe keeps.
const probeLines = 4

// encoderProbe embeds a few distinct training lines (the first lines of
// sessions) for the bundle's encoder check.
func encoderProbe(ctx context.Context, enc Encoder, sessions []LabelledSession) ([]bundle.ProbeLine, error) {
	var lines []string
	seen := map[string]bool{}
	for _, s := range sessions {
		for _, l := range s.Lines {
			if len(lines) == probeLines {
				break
			}
			if !seen[l] {
				seen[l] = true
				lines = append(lines, l)
				break // one line per session: varied templates
			}
		}
	}
	if len(lines) == 0 {
		return nil, nil
	}
	vecs, err := enc.Embed(ctx, lines)
	if err != nil {
		return nil, fmt.Errorf("train: encoder probe: %w", err)
	}
	if len(vecs) != len(lines) {
		return nil, fmt.Errorf("train: encoder probe: %d vectors for %d lines", len(vecs), len(lines))
	}
	out := make([]bundle.ProbeLine, len(lines))
	for i := range lines {
		out[i] = bundle.ProbeLine{Line: lines[i], Vector: vecs[i]}
	}
	return out, nil
}

// trainVectors is Train after encoding (the Learner has its vectors already).
// judged, when not nil, marks the sessions whose label a Judge gave (memory
// items the cascade treats as LLM-judged).
func trainVectors(ctx context.Context, train []LabelledSession, trainVecs, validVecs [][]float32, probe []bundle.ProbeLine, opts TrainOptions, info bundle.TrainInfo, judged []bool, progress io.Writer) (*bundle.Bundle, error) {
	if opts.Key == nil {
		opts.Key = normalize.TemplateKey
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	created := opts.Now().UTC()
	if opts.Version == "" {
		opts.Version = "coorlog-" + created.Format("20060102T150405Z")
	}

	// The coordinator asks whether a session is new to the encoder: it takes
	// the semantic half only (the lexical half ignores unseen tokens by
	// design, so it cannot tell new content).
	lx := opts.Encoder.Lexical
	semantic := func(vs [][]float32) [][]float32 {
		out := make([][]float32, len(vs))
		for i, v := range vs {
			out[i] = lx.Semantic(v)
		}
		return out
	}
	t0 := time.Now()
	coord, err := coordinator.Train(ctx, semantic(trainVecs), semantic(validVecs), opts.Coordinator, func(p coordinator.Progress) {
		logf(progress, "coordinator: epoch %d/%d loss %.5f\n", p.Epoch, p.Epochs, p.Loss)
	})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	info.CoordinatorSeconds = time.Since(t0).Seconds()
	logf(progress, "coordinator: tau %.5f (quantile %.2f) in %.1fs\n", coord.Tau(), coord.Config().Quantile, info.CoordinatorSeconds)

	t1 := time.Now()
	samples := make([]smallmodel.Sample, len(train))
	items := make([]smallmodel.Item, len(train))
	for i, s := range train {
		samples[i] = smallmodel.Sample{Vec: trainVecs[i], Label: s.Label}
		items[i] = smallmodel.Item{ID: s.ID, Label: s.Label, Lines: s.Lines, Key: opts.Key(s.Lines), Vec: trainVecs[i], Judged: judged != nil && judged[i]}
		info.Anomalous += s.Label
	}
	small, err := smallmodel.Train(ctx, samples, opts.Small, func(p smallmodel.Progress) {
		logf(progress, "small model: epoch %d/%d loss %.5f\n", p.Epoch, p.Epochs, p.Loss)
	})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	mem, err := smallmodel.NewMemory(opts.Memory, small, items)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	info.SmallModelSeconds = time.Since(t1).Seconds()
	if !small.Trained() {
		logf(progress, "small model: one class in the training set; projection left untrained\n")
	}
	logf(progress, "small model: %d memory items (%d sessions) in %.1fs\n", mem.Len(), len(train), info.SmallModelSeconds)
	info.Seed = coord.Config().Seed

	ref := opts.Encoder
	ref.Dim = small.Dim()
	ref.Probe = probe
	ref.SessionPooling = opts.SessionPooling
	ref.Normalizer = normalize.Version
	return &bundle.Bundle{
		Manifest:    bundle.Manifest{ModelVersion: opts.Version, Created: created, Encoder: ref, Training: info},
		Coordinator: coord, Small: small, Memory: mem,
	}, nil
}

// fitLexical fits the lexical half of the session vectors on the training
// sessions (TrainOptions.LexicalDims; nil when it is negative).
func fitLexical(train []LabelledSession, dims int) *lexical.Model {
	if dims < 0 {
		return nil
	}
	counts := make([]lexical.Counts, len(train))
	for i, s := range train {
		counts[i] = lexical.CountsOf(s.Lines)
	}
	return lexical.Fit(counts, dims)
}

// EncodeSessions embeds every session and returns its session vector (its
// line vectors pooled as SessionVector does, followed by the lexical part
// when lx is not nil). progress, when not nil, is called after each session
// with the count done.
func EncodeSessions(ctx context.Context, enc Encoder, sessions []LabelledSession, pooling string, lx *lexical.Model, progress func(done, total int)) ([][]float32, error) {
	out := make([][]float32, len(sessions))
	for i, s := range sessions {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("encode sessions: %w", err)
		}
		keys := lineKeys(s.Lines)
		lines, err := embedForPooling(ctx, enc, s.Lines, keys)
		if err != nil {
			return nil, fmt.Errorf("encode session %s: %w", s.ID, err)
		}
		if len(lines) != len(s.Lines) {
			return nil, fmt.Errorf("encode session %s: %d vectors for %d lines", s.ID, len(lines), len(s.Lines))
		}
		out[i] = sessionVector(lines, keys, pooling, lx)
		if want := enc.Dim() + lx.Width(); len(out[i]) != want {
			return nil, fmt.Errorf("encode session %s: vector of width %d, want %d", s.ID, len(out[i]), want)
		}
		if progress != nil {
			progress(i+1, len(sessions))
		}
	}
	return out, nil
}

// progressf reports encoding progress about every 10% on w.
func progressf(w io.Writer, what string) func(done, total int) {
	if w == nil {
		return nil
	}
	start := time.Now()
	return func(done, total int) {
		step := max(1, total/10)
		if done%step == 0 || done == total {
			logf(w, "%s: %d/%d sessions (%.1fs)\n", what, done, total, time.Since(start).Seconds())
		}
	}
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}
