// Package coordinator is CoorLog's router: a fully connected autoencoder on
// the session vector, trained on the old version's sessions. A session whose
// reconstruction error reaches tau (a quantile of the error on held-out old
// sessions) is "evolved" and goes to the LLM; the rest stay on the small model.
//
// Inputs are standardised with the training mean and standard deviation, and
// the error is the MSE in that standardised space. The output layer is linear
// by default: standardised inputs are z-scores outside [-1, 1], which a Tanh
// output (the prototype's choice) cannot reproduce, so it would inflate the
// error of every session in the tails. Tanh stays available as an option.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"unsafe"

	"github.com/coorlog/coorlogprocessor/model/internal/mlp"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/internal/wire"
)

// Config sets the autoencoder's shape, training and threshold. Zero fields
// take the defaults of DefaultConfig.
type Config struct {
	Hidden        []int   `json:"hidden"`         // hidden layer sizes; default [64, 128, 64] (method.md)
	Output        string  `json:"output"`         // "linear" (default) or "tanh"
	Epochs        int     `json:"epochs"`         // default 30
	BatchSize     int     `json:"batch_size"`     // default 256
	LR            float64 `json:"lr"`             // Adam learning rate; default 1e-3
	Quantile      float64 `json:"quantile"`       // tau = this quantile of validation error; default 0.9
	ValidFraction float64 `json:"valid_fraction"` // held out of train when no validation set is given; default 0.2
	Seed          int64   `json:"seed"`           // default 1
	// AllValid takes tau over every validation session, repeats included,
	// as the prototype does. By default identical session vectors count once
	// (see distinct): on HDFS this raises tau tenfold and halves the LLM
	// share on an upgraded version, at equal F1.
	AllValid bool `json:"all_valid"`
}

// DefaultConfig is the configuration used for zero fields.
func DefaultConfig() Config {
	return Config{Hidden: []int{64, 128, 64}, Output: "linear", Epochs: 30, BatchSize: 256, LR: 1e-3, Quantile: 0.9, ValidFraction: 0.2, Seed: 1}
}

// WithDefaults fills zero fields from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if len(c.Hidden) == 0 {
		c.Hidden = d.Hidden
	}
	if c.Output == "" {
		c.Output = d.Output
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
	if c.Quantile == 0 {
		c.Quantile = d.Quantile
	}
	if c.ValidFraction == 0 {
		c.ValidFraction = d.ValidFraction
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
			return fmt.Errorf("coordinator: hidden sizes must be positive, got %v", c.Hidden)
		}
	}
	switch {
	case c.Output != "linear" && c.Output != "tanh":
		return fmt.Errorf("coordinator: output must be linear or tanh, got %q", c.Output)
	case c.Epochs < 0 || c.BatchSize <= 0 || c.LR <= 0:
		return fmt.Errorf("coordinator: epochs %d, batch size %d, lr %g must be positive", c.Epochs, c.BatchSize, c.LR)
	case c.Quantile <= 0 || c.Quantile >= 1:
		return fmt.Errorf("coordinator: quantile must be in (0, 1), got %g", c.Quantile)
	case c.ValidFraction <= 0 || c.ValidFraction >= 1:
		return fmt.Errorf("coordinator: valid fraction must be in (0, 1), got %g", c.ValidFraction)
	}
	return nil
}

// Progress is reported once per training epoch.
type Progress struct {
	Stage  string // "train" or "finetune"
	Epoch  int    // 1-based
	Epochs int
	Loss   float64 // mean training MSE of the epoch
}

// Model is a trained coordinator. It is immutable and safe for concurrent use.
type Model struct {
	cfg       Config
	mean, std []float32 // per input dimension, from the training set
	net       *mlp.Net  // standardised vec -> reconstruction
	tau       float64
	validErrs []float32   // sorted validation errors, for TauAt
	held      [][]float32 // a sample of the distinct validation sessions, to re-derive tau after FineTune
	fixedTau  bool        // tau set by WithTau: FineTune keeps it
}

// minStd keeps constant dimensions from dividing by zero.
const minStd = 1e-3

// maxValidErrs bounds the validation errors kept for TauAt.
const maxValidErrs = 2048

// maxHeld bounds the validation sessions kept to re-derive tau after
// fine-tuning (512 x 128-d = 256 KiB; the 0.9 quantile of 512 samples has a
// standard error of about 1.3 percentile points).
const maxHeld = 512

// Train fits the autoencoder on train and sets tau from valid (or, when valid
// is empty, from a seeded ValidFraction of train held out of training).
func Train(ctx context.Context, train, valid [][]float32, cfg Config, progress func(Progress)) (*Model, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dim, err := checkVectors(train)
	if err != nil {
		return nil, fmt.Errorf("coordinator: training set: %w", err)
	}
	rng := rand.New(rand.NewSource(cfg.Seed))
	if len(valid) == 0 {
		if len(train) < 2 {
			return nil, fmt.Errorf("coordinator: need at least 2 sessions to hold out a validation split, got %d", len(train))
		}
		perm := rng.Perm(len(train))
		nValid := max(1, int(math.Round(cfg.ValidFraction*float64(len(train)))))
		valid = make([][]float32, 0, nValid)
		rest := make([][]float32, 0, len(train)-nValid)
		for i, j := range perm {
			if i < nValid {
				valid = append(valid, train[j])
			} else {
				rest = append(rest, train[j])
			}
		}
		train = rest
	} else if vd, err := checkVectors(valid); err != nil || vd != dim {
		return nil, fmt.Errorf("coordinator: validation set: dimension %d, want %d (%v)", vd, dim, err)
	}

	m := &Model{cfg: cfg}
	m.mean, m.std = meanStd(train, dim)
	dims := append(append([]int{dim}, cfg.Hidden...), dim)
	out := mlp.Identity
	if cfg.Output == "tanh" {
		out = mlp.Tanh
	}
	init, err := mlp.New(dims, mlp.ReLU, out, rng)
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	m.net, err = m.fit(ctx, init, train, cfg.Epochs, cfg.BatchSize, rng, "train", progress)
	if err != nil {
		return nil, err
	}
	held := distinct(valid, !cfg.AllValid)
	errs := m.sortedErrors(held)
	m.validErrs = thin(errs, maxValidErrs)
	m.tau = quantile(errs, cfg.Quantile)
	if len(held) > maxHeld {
		idx := rng.Perm(len(held))[:maxHeld]
		slices.Sort(idx)
		sample := make([][]float32, maxHeld)
		for i, j := range idx {
			sample[i] = held[j]
		}
		held = sample
	}
	m.held = make([][]float32, len(held))
	for i, v := range held {
		m.held[i] = slices.Clone(v)
	}
	return m, nil
}

// FineTune returns a new model trained further on vecs for the given epochs
// (each at least one batch), keeping the training statistics. The receiver is
// not modified, so the result can be swapped in atomically. Callers mix in a
// replay of old sessions to keep the old distribution reconstructed too.
//
// Tau is re-derived as it was defined, the Quantile of the error on the
// held-out old-version sessions, now under the fine-tuned network: learning
// the new version shifts the error of the old one (measured on HDFS: the 0.9
// quantile moved from 0.0012 to 0.011 over three updates on one seed, from
// 0.005 to 0.0014 on another), and a fixed tau would then route far more, or
// far fewer, than a tenth of the old version's sessions to the LLM. A model
// without held-out sessions (format 1) or with a tau set by WithTau keeps
// its tau.
func (m *Model) FineTune(ctx context.Context, vecs [][]float32, epochs int) (*Model, error) {
	if epochs <= 0 {
		return nil, fmt.Errorf("coordinator: fine-tune epochs must be positive, got %d", epochs)
	}
	dim, err := checkVectors(vecs)
	if err != nil {
		return nil, fmt.Errorf("coordinator: fine-tune set: %w", err)
	}
	if dim != m.Dim() {
		return nil, fmt.Errorf("coordinator: fine-tune vectors have dimension %d, model %d", dim, m.Dim())
	}
	n := *m
	rng := rand.New(rand.NewSource(m.cfg.Seed + int64(len(vecs))))
	n.net, err = m.fit(ctx, m.net, vecs, epochs, FineTuneBatch(len(vecs), m.cfg.BatchSize), rng, "finetune", nil)
	if err != nil {
		return nil, err
	}
	if len(n.held) > 0 {
		errs := n.sortedErrors(n.held)
		n.validErrs = errs
		if !n.fixedTau {
			n.tau = quantile(errs, n.cfg.Quantile)
		}
	}
	return &n, nil
}

// fit trains a copy of start on vecs with Adam and MSE; start is untouched.
func (m *Model) fit(ctx context.Context, start *mlp.Net, vecs [][]float32, epochs, batch int, rng *rand.Rand, stage string, progress func(Progress)) (*mlp.Net, error) {
	dim := m.Dim()
	var out *mlp.Net
	err := mlp.Locked(func() error {
		tr, err := mlp.NewTrainer(start, m.cfg.LR)
		if err != nil {
			return fmt.Errorf("coordinator: %w", err)
		}
		defer tr.Close()
		steps := max(1, (len(vecs)+batch-1)/batch)
		for epoch := 1; epoch <= epochs; epoch++ {
			perm := rng.Perm(len(vecs))
			var sum float64
			for s := 0; s < steps; s++ {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("coordinator: %s: %w", stage, err)
				}
				idx := batchIndices(perm, s, batch)
				x := mlp.Rows(vecs, idx, dim, m.standardise) // standardised batch
				loss, err := tr.Step(func(g *mlp.Graph) mlp.T {
					in := g.Input(x, int64(len(idx)), int64(dim)) // [B, dim]
					return g.MSE(tr.Forward(g, in), in)           // mean over B*dim
				})
				if err != nil {
					return fmt.Errorf("coordinator: %w", err)
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

// distinct drops repeated vectors when on: in log data most validation
// sessions repeat a training session exactly (HDFS: 9 in 10), and their
// near-zero error measures memorisation, not how well the autoencoder
// reconstructs an unseen session of the old version; a quantile over them
// puts tau so low that any unseen session counts as evolved.
func distinct(vecs [][]float32, on bool) [][]float32 {
	if !on {
		return vecs
	}
	seen := make(map[string]bool, len(vecs))
	out := make([][]float32, 0, len(vecs))
	for _, v := range vecs {
		k := string(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)))
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// FineTuneBatch is the batch size for fine-tuning on n vectors: small sets
// use smaller batches (down to 32) so that one epoch is about 8 Adam steps and
// a few dozen epochs move the model; large sets use the training batch size.
func FineTuneBatch(n, batch int) int {
	return min(batch, max(32, (n+7)/8))
}

// batchIndices is the s-th batch of perm; when perm is shorter than a batch it
// wraps around, so fine-tuning on a handful of sessions still fills a batch.
func batchIndices(perm []int, s, size int) []int {
	if len(perm) <= size {
		return perm
	}
	lo := s * size
	return perm[lo:min(lo+size, len(perm))]
}

// Error is the reconstruction MSE of vec in standardised space. A vector of
// the wrong length, or with NaN/Inf, has error +Inf (so it counts as evolved).
func (m *Model) Error(vec []float32) float64 {
	if len(vec) != m.Dim() {
		return math.Inf(1)
	}
	z := make([]float32, len(vec))
	m.standardise(z, vec)
	r := m.net.Forward(z)
	var s float64
	for i := range z {
		d := float64(r[i] - z[i])
		s += d * d
	}
	e := s / float64(len(z))
	if math.IsNaN(e) {
		return math.Inf(1)
	}
	return e
}

// sortedErrors is the reconstruction error of each of vecs, ascending.
func (m *Model) sortedErrors(vecs [][]float32) []float32 {
	errs := make([]float32, len(vecs))
	for i, v := range vecs {
		errs[i] = float32(m.Error(v))
	}
	slices.Sort(errs)
	return errs
}

// Distance is the mean squared difference of a and b in standardised space:
// the reconstruction error a would have if b were its reconstruction.
func (m *Model) Distance(a, b []float32) float64 {
	if len(a) != m.Dim() || len(b) != m.Dim() {
		return math.Inf(1)
	}
	var s float64
	for i := range a {
		d := float64(a[i]-b[i]) / float64(m.std[i])
		s += d * d
	}
	return s / float64(len(a))
}

// Evolved reports the reconstruction error and whether it reaches tau.
func (m *Model) Evolved(vec []float32) (float64, bool) {
	e := m.Error(vec)
	return e, e >= m.tau
}

func (m *Model) standardise(dst, src []float32) {
	for i, x := range src {
		dst[i] = (x - m.mean[i]) / m.std[i]
	}
}

// Dim is the session vector width the model expects.
func (m *Model) Dim() int { return len(m.mean) }

// Tau is the evolution threshold on the reconstruction error.
func (m *Model) Tau() float64 { return m.tau }

// Config is the configuration the model was trained with.
func (m *Model) Config() Config { return m.cfg }

// TauAt is the q-quantile of the validation errors (after a FineTune, of the
// held-out sample's), for choosing or sweeping the threshold (the
// tau-sensitivity plot). q is clamped to [0, 1].
func (m *Model) TauAt(q float64) float64 { return quantile(m.validErrs, q) }

// WithTau returns a copy of the model using threshold tau, kept through
// FineTune (not saved as such: a saved model is read back with its tau, and
// re-derives it at the next fine-tune).
func (m *Model) WithTau(tau float64) *Model {
	n := *m
	n.tau = tau
	n.fixedTau = true
	return &n
}

// HeldOut is the number of held-out sessions kept to re-derive tau.
func (m *Model) HeldOut() int { return len(m.held) }

// quantile of sorted xs by linear interpolation.
func quantile(sorted []float32, q float64) float64 {
	if len(sorted) == 0 {
		return math.Inf(1)
	}
	q = min(max(q, 0), 1)
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	f := pos - float64(lo)
	return float64(sorted[lo])*(1-f) + float64(sorted[hi])*f
}

// thin keeps at most n evenly spaced values of sorted xs (both ends kept).
func thin(sorted []float32, n int) []float32 {
	if len(sorted) <= n {
		return sorted
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = sorted[i*(len(sorted)-1)/(n-1)]
	}
	return out
}

func meanStd(vecs [][]float32, dim int) (mean, std []float32) {
	mu := make([]float64, dim)
	for _, v := range vecs {
		for i, x := range v {
			mu[i] += float64(x)
		}
	}
	n := float64(len(vecs))
	va := make([]float64, dim)
	for _, v := range vecs {
		for i, x := range v {
			d := float64(x) - mu[i]/n
			va[i] += d * d
		}
	}
	mean = make([]float32, dim)
	std = make([]float32, dim)
	sd := make([]float64, dim)
	for i := range mean {
		mean[i] = float32(mu[i] / n)
		sd[i] = math.Sqrt(va[i] / n)
	}
	// Floor each deviation at a tenth of the median one: a dimension that
	// barely varied in training would otherwise turn any later change into a
	// z-score in the hundreds that dominates the error and that fine-tuning
	// cannot bring down.
	sorted := slices.Clone(sd)
	slices.Sort(sorted)
	floor := max(minStd, sorted[len(sorted)/2]/10)
	for i := range std {
		std[i] = float32(max(sd[i], floor))
	}
	return mean, std
}

// checkVectors verifies a non-empty set of finite vectors of one width.
func checkVectors(vecs [][]float32) (int, error) {
	if len(vecs) == 0 {
		return 0, errors.New("no session vectors")
	}
	dim := len(vecs[0])
	if dim == 0 {
		return 0, errors.New("empty session vector")
	}
	for i, v := range vecs {
		if len(v) != dim {
			return 0, fmt.Errorf("vector %d has dimension %d, want %d", i, len(v), dim)
		}
		if !vec.Finite(v) {
			return 0, fmt.Errorf("vector %d is not finite", i)
		}
	}
	return dim, nil
}

// formatVersion of the coordinator section: 2 adds the held-out sessions
// after the weights; format 1 (without them) is still read.
const formatVersion = 2

// MarshalBinary encodes the model: config, statistics, tau, validation
// errors, weights and held-out sessions as named float32 arrays.
func (m *Model) MarshalBinary() ([]byte, error) {
	var w wire.Writer
	w.U32(formatVersion)
	if err := w.JSON(m.cfg); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	w.F64(m.tau)
	w.Array("mean", []int{len(m.mean)}, m.mean)
	w.Array("std", []int{len(m.std)}, m.std)
	w.Array("valid_errors", []int{len(m.validErrs)}, m.validErrs)
	m.net.Encode(&w, "autoencoder")
	held := make([]float32, 0, len(m.held)*m.Dim())
	for _, v := range m.held {
		held = append(held, v...)
	}
	w.Array("held_out", []int{len(m.held), m.Dim()}, held)
	return w.Bytes(), nil
}

// Unmarshal decodes a model written by MarshalBinary, checking that its parts
// fit together.
func Unmarshal(p []byte) (*Model, error) {
	r := wire.NewReader(p)
	version := r.U32()
	if r.Err() == nil && version != 1 && version != formatVersion {
		return nil, fmt.Errorf("coordinator: section format %d, this build reads 1 and %d", version, formatVersion)
	}
	m := &Model{}
	r.JSON(&m.cfg)
	m.tau = r.F64()
	_, m.mean = r.Array("mean")
	_, m.std = r.Array("std")
	_, m.validErrs = r.Array("valid_errors")
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	net, err := mlp.Decode(r, "autoencoder")
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	m.net = net
	dim := len(m.mean)
	if version >= 2 {
		hs, held := r.Array("held_out")
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("coordinator: %w", err)
		}
		if len(hs) != 2 || hs[1] != dim || hs[0] > maxHeld || (hs[0] > 0) != (len(held) > 0) {
			return nil, fmt.Errorf("coordinator: held-out sessions of shape %v for width %d", hs, dim)
		}
		for i := range hs[0] {
			v := held[i*dim : (i+1)*dim : (i+1)*dim]
			if !vec.Finite(v) {
				return nil, fmt.Errorf("coordinator: held-out session %d is not finite", i)
			}
			m.held = append(m.held, v)
		}
	}
	switch {
	case dim == 0 || len(m.std) != dim:
		return nil, fmt.Errorf("coordinator: statistics of width %d and %d", dim, len(m.std))
	case net.InDim() != dim || net.OutDim() != dim:
		return nil, fmt.Errorf("coordinator: autoencoder %v does not map width %d to itself", net.Dims(), dim)
	case math.IsNaN(m.tau):
		return nil, errors.New("coordinator: tau is NaN")
	case r.Remaining() != 0:
		return nil, fmt.Errorf("coordinator: %d trailing bytes", r.Remaining())
	}
	for _, s := range m.std {
		if !(s > 0) {
			return nil, errors.New("coordinator: non-positive standard deviation")
		}
	}
	if !slices.IsSorted(m.validErrs) {
		return nil, errors.New("coordinator: validation errors not sorted")
	}
	return m, nil
}
