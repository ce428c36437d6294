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
)

// Progress is reported once per training epoch.
type Progress struct {
	Stage  string // "train" or "finetune"
	Epoch  int    // 1-based
	Epochs int
	Loss   float64 // mean training MSE of the epoch
}

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
