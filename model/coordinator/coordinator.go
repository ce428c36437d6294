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
	"math"
	"slices"

	"github.com/coorlog/coorlogprocessor/model/internal/mlp"
)

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
// fine-tuning (512 x 128-d = 256 KiB; the 0.95 quantile of 512 samples has a
// standard error of about 1 percentile point).
const maxHeld = 512

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
