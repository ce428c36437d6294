// Package smallmodel is CoorLog's cheap path: a Siamese MLP that projects a
// session vector onto the unit sphere, trained with a contrastive loss, and a
// kNN memory of labelled sessions whose similarity-weighted vote gives the
// verdict.
//
// Contrastive loss (margin m = 1.0 by default), on L2-normalised projections
// a, b and their Euclidean distance d = |a - b| (so d^2 = 2 - 2 cos):
//
//	same label:      L = d^2
//	different label: L = max(0, m - d)^2
//
// With m = 1, pairs of different labels are pushed until their cosine
// similarity falls to 0.5 or below; pairs of one label are pulled together.
//
// Pairs are sampled properly (unlike the prototype's (i, i+1) pairs): every
// anchor is drawn from a uniformly chosen class, so the minority class is
// oversampled, and gets one positive (same label, another session when the
// class has one) and one negative (a session of another class). A training set
// with a single class has no negatives: the projection then stays at its
// seeded random initialisation (random ReLU features roughly keep
// neighbourhoods, which is what retrieval for the LLM needs) and the vote
// can only return that class.
package smallmodel

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"

	"github.com/coorlog/coorlogprocessor/model/internal/mlp"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/internal/wire"
)

// Config sets the projection network and its training. Zero fields take the
// defaults of DefaultConfig.
type Config struct {
	Hidden    []int   `json:"hidden"`     // layer sizes after the input, last = projection width; default [128, 64, 32] (paper table)
	Margin    float64 `json:"margin"`     // contrastive margin on the distance of normalised projections; default 1.0
	Epochs    int     `json:"epochs"`     // default 20
	BatchSize int     `json:"batch_size"` // anchors per step (each gives a positive and a negative pair); default 256
	LR        float64 `json:"lr"`         // Adam learning rate; default 1e-3
	Seed      int64   `json:"seed"`       // default 1
}

// DefaultConfig is the configuration used for zero fields.
func DefaultConfig() Config {
	return Config{Hidden: []int{128, 64, 32}, Margin: 1.0, Epochs: 20, BatchSize: 256, LR: 1e-3, Seed: 1}
}

// WithDefaults fills zero fields from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if len(c.Hidden) == 0 {
		c.Hidden = d.Hidden
	}
	if c.Margin == 0 {
		c.Margin = d.Margin
	}
	if c.Epochs == 0 {
		c.Epochs = d.Epochs
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.LR == 0 {
		c.LR = d.LR
	}
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	return c
}

// Validate reports a configuration that cannot train.
func (c Config) Validate() error {
	for _, h := range c.Hidden {
		if h <= 0 {
			return fmt.Errorf("small model: layer sizes must be positive, got %v", c.Hidden)
		}
	}
	if c.Margin <= 0 || c.Epochs < 0 || c.BatchSize <= 0 || c.LR <= 0 {
		return fmt.Errorf("small model: margin %g, epochs %d, batch size %d, lr %g must be positive", c.Margin, c.Epochs, c.BatchSize, c.LR)
	}
	return nil
}

// Progress is reported once per training epoch.
type Progress struct {
	Stage  string // "train" or "finetune"
	Epoch  int    // 1-based
	Epochs int
	Loss   float64 // mean contrastive loss of the epoch
}

// Sample is a labelled session vector (label 0 normal, 1 anomalous).
type Sample struct {
	Vec   []float32
	Label int
}

// Pair is an extra training pair for fine-tuning: an AEM evolution relation
// (old session, its evolved form) is a pair with Same = true.
type Pair struct {
	A, B []float32
	Same bool
}

// Model is the trained projection. It is immutable and safe for concurrent
// use.
type Model struct {
	cfg       Config
	mean, std []float32 // input standardisation, from the training set
	net       *mlp.Net  // standardised vec -> projection (normalised in Project)
	trained   bool      // false when the training set had one class
}

const minStd = 1e-3

// Train fits the projection on labelled session vectors.
func Train(ctx context.Context, samples []Sample, cfg Config, progress func(Progress)) (*Model, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dim, err := checkSamples(samples)
	if err != nil {
		return nil, fmt.Errorf("small model: training set: %w", err)
	}
	rng := rand.New(rand.NewSource(cfg.Seed))
	m := &Model{cfg: cfg}
	m.mean, m.std = meanStd(samples, dim)
	init, err := mlp.New(append([]int{dim}, cfg.Hidden...), mlp.ReLU, mlp.Identity, rng)
	if err != nil {
		return nil, fmt.Errorf("small model: %w", err)
	}
	m.net = init
	sampler := newSampler(samples)
	if !sampler.contrastive() {
		return m, nil // one class: nothing to contrast, see the package comment
	}
	steps := max(1, (len(samples)+cfg.BatchSize-1)/cfg.BatchSize)
	m.net, err = m.fit(ctx, cfg.Epochs, steps, rng, "train", progress, func(rng *rand.Rand) []pairRow {
		return sampler.batch(rng, cfg.BatchSize)
	})
	if err != nil {
		return nil, err
	}
	m.trained = true
	return m, nil
}

// FineTunePairs returns a new model trained further for the given epochs on
// the extra pairs (AEM's (old, new) evolution relations as positives) mixed
// half and half with pairs sampled from replay (the memory's labelled
// sessions), so that the old classes are not forgotten. The receiver is not
// modified. Without a negative pair available (replay of one class and no
// extra negatives) there is nothing to contrast against and the receiver is
// returned unchanged.
func (m *Model) FineTunePairs(ctx context.Context, pairs []Pair, replay []Sample, epochs int) (*Model, error) {
	if epochs <= 0 {
		return nil, fmt.Errorf("small model: fine-tune epochs must be positive, got %d", epochs)
	}
	dim := m.Dim()
	for i, p := range pairs {
		if len(p.A) != dim || len(p.B) != dim {
			return nil, fmt.Errorf("small model: pair %d has widths %d and %d, model %d", i, len(p.A), len(p.B), dim)
		}
	}
	if len(replay) > 0 {
		if d, err := checkSamples(replay); err != nil || d != dim {
			return nil, fmt.Errorf("small model: replay set of width %d, model %d: %v", d, dim, err)
		}
	}
	sampler := newSampler(replay)
	hasNeg := sampler.contrastive() || slices.ContainsFunc(pairs, func(p Pair) bool { return !p.Same })
	if !hasNeg || (len(pairs) == 0 && len(replay) == 0) {
		return m, nil
	}
	rng := rand.New(rand.NewSource(m.cfg.Seed + int64(len(pairs))))
	// Like the coordinator's fine-tuning: small sets take small batches so
	// that an epoch is about 8 steps.
	half := min(m.cfg.BatchSize, max(32, (len(pairs)+7)/8))
	steps := max(1, (max(len(pairs), len(replay)/4)+half-1)/half)
	next := 0
	n := *m
	var err error
	n.net, err = m.fit(ctx, epochs, steps, rng, "finetune", nil, func(rng *rand.Rand) []pairRow {
		rows := make([]pairRow, 0, 4*half)
		for range half {
			if len(pairs) == 0 {
				break
			}
			p := pairs[next%len(pairs)]
			next++
			y := float32(0)
			if p.Same {
				y = 1
			}
			rows = append(rows, pairRow{p.A, p.B, y})
		}
		if sampler.contrastive() {
			rows = append(rows, sampler.batch(rng, half)...)
		}
		return rows
	})
	if err != nil {
		return nil, err
	}
	n.trained = true
	return &n, nil
}

// pairRow is one training pair; y = 1 for same label.
type pairRow struct {
	a, b []float32
	y    float32
}

// fit runs Adam on the contrastive loss over batches from next; the receiver's
// net is copied, not modified.
func (m *Model) fit(ctx context.Context, epochs, steps int, rng *rand.Rand, stage string, progress func(Progress), next func(*rand.Rand) []pairRow) (*mlp.Net, error) {
	dim := m.Dim()
	var out *mlp.Net
	err := mlp.Locked(func() error {
		tr, err := mlp.NewTrainer(m.net, m.cfg.LR)
		if err != nil {
			return fmt.Errorf("small model: %w", err)
		}
		defer tr.Close()
		for epoch := 1; epoch <= epochs; epoch++ {
			var sum float64
			for range steps {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("small model: %s: %w", stage, err)
				}
				loss, err := m.step(tr, next(rng), dim)
				if err != nil {
					return err
				}
				sum += loss
			}
			if progress != nil {
				progress(Progress{Stage: stage, Epoch: epoch, Epochs: epochs, Loss: sum / float64(steps)})
			}
		}
		out, err = tr.Net()
		return err
	})
	return out, err
}

// step is one Adam step of the contrastive loss on a batch of pairs.
func (m *Model) step(tr *mlp.Trainer, rows []pairRow, dim int) (float64, error) {
	n := len(rows)
	as := make([][]float32, n)
	bs := make([][]float32, n)
	ys := make([]float32, n)
	idx := make([]int, n)
	for i, r := range rows {
		as[i], bs[i], ys[i], idx[i] = r.a, r.b, r.y, i
	}
	xa := mlp.Rows(as, idx, dim, m.standardise)
	xb := mlp.Rows(bs, idx, dim, m.standardise)
	loss, err := tr.Step(func(g *mlp.Graph) mlp.T {
		N, D := int64(n), int64(dim)
		y := g.Input(ys, N)                                    // [N], 1 = same label
		za := l2normalise(g, tr.Forward(g, g.Input(xa, N, D))) // [N, d], unit rows
		zb := l2normalise(g, tr.Forward(g, g.Input(xb, N, D))) // [N, d]
		diff := g.Sub(za, zb)                                  // [N, d]
		d2 := g.SumRows(g.Mul(diff, diff), false)              // [N] squared distance
		dist := g.Sqrt(g.AddScalar(d2, 1e-9))                  // [N]
		gap := g.Relu(g.RsubScalar(dist, m.cfg.Margin))        // max(0, m - d)
		pos := g.Mul(y, d2)                                    // y * d^2
		neg := g.Mul(g.RsubScalar(y, 1), g.Mul(gap, gap))      // (1 - y) * max(0, m - d)^2
		return g.Mean(g.Add(pos, neg))
	})
	if err != nil {
		return 0, fmt.Errorf("small model: %w", err)
	}
	return loss, nil
}

// l2normalise divides each row by its norm: [N, d] -> [N, d].
func l2normalise(g *mlp.Graph, x mlp.T) mlp.T {
	norm := g.Sqrt(g.AddScalar(g.SumRows(g.Mul(x, x), true), 1e-12)) // [N, 1]
	return g.Div(x, norm)
}

// Project maps a session vector to its unit-length projection. A vector of
// the wrong width projects to nil.
func (m *Model) Project(v []float32) []float32 {
	if len(v) != m.Dim() {
		return nil
	}
	z := make([]float32, len(v))
	m.standardise(z, v)
	p := m.net.Forward(z)
	vec.Normalize(p)
	return p
}

func (m *Model) standardise(dst, src []float32) {
	for i, x := range src {
		dst[i] = (x - m.mean[i]) / m.std[i]
	}
}

// Dim is the session vector width the model expects.
func (m *Model) Dim() int { return len(m.mean) }

// ProjDim is the projection width.
func (m *Model) ProjDim() int { return m.net.OutDim() }

// Config is the configuration the model was trained with.
func (m *Model) Config() Config { return m.cfg }

// Trained reports whether contrastive training ran (false for a one-class
// training set).
func (m *Model) Trained() bool { return m.trained }

// sampler draws balanced contrastive pairs.
type sampler struct {
	samples []Sample
	classes []int         // labels present, sorted
	byClass map[int][]int // label -> sample indices
}

func newSampler(samples []Sample) *sampler {
	s := &sampler{samples: samples, byClass: map[int][]int{}}
	for i, x := range samples {
		s.byClass[x.Label] = append(s.byClass[x.Label], i)
	}
	for c := range s.byClass {
		s.classes = append(s.classes, c)
	}
	slices.Sort(s.classes)
	return s
}

func (s *sampler) contrastive() bool { return len(s.classes) >= 2 }

// batch returns n anchors, each with a positive and a negative pair. The
// anchor's class is drawn uniformly, which oversamples minority classes.
func (s *sampler) batch(rng *rand.Rand, n int) []pairRow {
	rows := make([]pairRow, 0, 2*n)
	for range n {
		ci := rng.Intn(len(s.classes))
		same := s.byClass[s.classes[ci]]
		i := same[rng.Intn(len(same))]
		j := i
		if len(same) > 1 {
			for j == i {
				j = same[rng.Intn(len(same))]
			}
		}
		oi := rng.Intn(len(s.classes) - 1)
		if oi >= ci {
			oi++
		}
		other := s.byClass[s.classes[oi]]
		k := other[rng.Intn(len(other))]
		rows = append(rows,
			pairRow{s.samples[i].Vec, s.samples[j].Vec, 1},
			pairRow{s.samples[i].Vec, s.samples[k].Vec, 0})
	}
	return rows
}

func meanStd(samples []Sample, dim int) (mean, std []float32) {
	mu := make([]float64, dim)
	for _, s := range samples {
		for i, x := range s.Vec {
			mu[i] += float64(x)
		}
	}
	n := float64(len(samples))
	va := make([]float64, dim)
	for _, s := range samples {
		for i, x := range s.Vec {
			d := float64(x) - mu[i]/n
			va[i] += d * d
		}
	}
	mean = make([]float32, dim)
	std = make([]float32, dim)
	for i := range mean {
		mean[i] = float32(mu[i] / n)
		std[i] = float32(max(math.Sqrt(va[i]/n), minStd))
	}
	return mean, std
}

func checkSamples(samples []Sample) (int, error) {
	if len(samples) == 0 {
		return 0, errors.New("no sessions")
	}
	dim := len(samples[0].Vec)
	if dim == 0 {
		return 0, errors.New("empty session vector")
	}
	for i, s := range samples {
		if len(s.Vec) != dim {
			return 0, fmt.Errorf("session %d has dimension %d, want %d", i, len(s.Vec), dim)
		}
		if s.Label != 0 && s.Label != 1 {
			return 0, fmt.Errorf("session %d has label %d, want 0 or 1", i, s.Label)
		}
		if !vec.Finite(s.Vec) {
			return 0, fmt.Errorf("session %d vector is not finite", i)
		}
	}
	return dim, nil
}

const modelFormat = 1

// MarshalBinary encodes the model: config, statistics and weights as named
// float32 arrays.
func (m *Model) MarshalBinary() ([]byte, error) {
	var w wire.Writer
	w.U32(modelFormat)
	if err := w.JSON(m.cfg); err != nil {
		return nil, fmt.Errorf("small model: %w", err)
	}
	if m.trained {
		w.U8(1)
	} else {
		w.U8(0)
	}
	w.Array("mean", []int{len(m.mean)}, m.mean)
	w.Array("std", []int{len(m.std)}, m.std)
	m.net.Encode(&w, "projection")
	return w.Bytes(), nil
}

// Unmarshal decodes a model written by MarshalBinary.
func Unmarshal(p []byte) (*Model, error) {
	r := wire.NewReader(p)
	if v := r.U32(); r.Err() == nil && v != modelFormat {
		return nil, fmt.Errorf("small model: section format %d, this build reads %d", v, modelFormat)
	}
	m := &Model{}
	r.JSON(&m.cfg)
	m.trained = r.U8() == 1
	_, m.mean = r.Array("mean")
	_, m.std = r.Array("std")
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("small model: %w", err)
	}
	net, err := mlp.Decode(r, "projection")
	if err != nil {
		return nil, fmt.Errorf("small model: %w", err)
	}
	m.net = net
	switch {
	case len(m.mean) == 0 || len(m.std) != len(m.mean):
		return nil, fmt.Errorf("small model: statistics of width %d and %d", len(m.mean), len(m.std))
	case net.InDim() != len(m.mean):
		return nil, fmt.Errorf("small model: projection takes %d inputs, statistics have %d", net.InDim(), len(m.mean))
	case r.Remaining() != 0:
		return nil, fmt.Errorf("small model: %d trailing bytes", r.Remaining())
	}
	for _, s := range m.std {
		if !(s > 0) {
			return nil, errors.New("small model: non-positive standard deviation")
		}
	}
	return m, nil
}
