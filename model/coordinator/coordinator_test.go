package coordinator

import (
	"context"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/internal/wire"
)

// manifold draws n vectors of width dim on a 3-d linear subspace spanned by
// basis (rows), plus small noise: the "old version" when basis is A, an
// evolved version when it is a different B.
func manifold(r *rand.Rand, basis [][]float32, n int, noise float64) [][]float32 {
	dim := len(basis[0])
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for _, b := range basis {
			z := float32(r.NormFloat64())
			for j := range v {
				v[j] += z * b[j]
			}
		}
		for j := range v {
			v[j] += float32(r.NormFloat64() * noise)
		}
		out[i] = v
	}
	return out
}

func randomBasis(r *rand.Rand, k, dim int) [][]float32 {
	b := make([][]float32, k)
	for i := range b {
		b[i] = make([]float32, dim)
		for j := range b[i] {
			b[i][j] = float32(r.NormFloat64())
		}
	}
	return b
}

func share(m *Model, vecs [][]float32) float64 {
	n := 0
	for _, v := range vecs {
		if _, ev := m.Evolved(v); ev {
			n++
		}
	}
	return float64(n) / float64(len(vecs))
}

func TestTrainTauAndFineTune(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	const dim = 32
	old := randomBasis(r, 3, dim)
	train := manifold(r, old, 1500, 0.05)
	heldOut := manifold(r, old, 500, 0.05)
	evolved := manifold(r, randomBasis(r, 3, dim), 200, 0.05)

	var epochs int
	m, err := Train(context.Background(), train, nil, Config{Epochs: 40}, func(p Progress) { epochs = p.Epoch })
	if err != nil {
		t.Fatal(err)
	}
	if epochs != 40 {
		t.Fatalf("progress reported %d epochs, want 40", epochs)
	}
	// tau is the 0.9 quantile of held-out old errors: about 10% of fresh old
	// sessions reach it; nearly every session of the new version does.
	if s := share(m, heldOut); s < 0.03 || s > 0.2 {
		t.Errorf("old sessions marked evolved: %.3f, want about 0.1", s)
	}
	if s := share(m, evolved); s < 0.95 {
		t.Errorf("evolved sessions marked evolved: %.3f, want >= 0.95", s)
	}
	if got, want := m.TauAt(0.9), m.Tau(); math.Abs(got-want) > 1e-6*max(1, want) {
		t.Errorf("TauAt(0.9) = %g, tau %g", got, want)
	}

	// AEM: fine-tune on the evolved sessions plus a replay of old ones.
	tune := append(append([][]float32{}, evolved[:100]...), train[:300]...)
	before := m.Error(evolved[0])
	n, err := m.FineTune(context.Background(), tune, 100)
	if err != nil {
		t.Fatal(err)
	}
	if m.Error(evolved[0]) != before {
		t.Fatal("FineTune modified the receiver")
	}
	// Tau keeps its definition: the 0.9 quantile of the held-out old
	// sessions' error, now under the fine-tuned network (the training split
	// held out 20% of train: 300 sessions, all kept).
	if m.HeldOut() != 300 {
		t.Fatalf("%d held-out sessions kept, want 300", m.HeldOut())
	}
	if n.Tau() == m.Tau() {
		t.Fatal("FineTune kept the old tau")
	}
	if got, want := n.Tau(), n.TauAt(0.9); got != want {
		t.Fatalf("tau after FineTune %g, 0.9 quantile of held-out error %g", got, want)
	}
	if s := share(n, heldOut); s < 0.03 || s > 0.2 {
		t.Errorf("after fine-tuning, %.3f of fresh old sessions above the re-derived tau, want about 0.1", s)
	}
	// A tau set by hand stays.
	if f, err := m.WithTau(0.5).FineTune(context.Background(), tune, 2); err != nil || f.Tau() != 0.5 {
		t.Fatalf("WithTau(0.5) then FineTune: tau %g, %v", f.Tau(), err)
	}
	if s := share(n, evolved[:100]); s > 0.2 {
		t.Errorf("after fine-tuning, %.2f of the tuned evolved sessions still evolved", s)
	}
	// Unseen sessions of the same (here: entirely new subspace) evolution
	// benefit too, though less than the tuned ones.
	if s := share(n, evolved[100:]); s > 0.7 {
		t.Errorf("after fine-tuning, %.2f of unseen sessions of the same evolution still evolved", s)
	}
	if s := share(n, heldOut); s > 0.3 {
		t.Errorf("after fine-tuning, %.2f of old sessions evolved: forgot the old version", s)
	}
}

func TestDeterministic(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	data := manifold(r, randomBasis(r, 2, 16), 300, 0.1)
	a, err := Train(context.Background(), data, nil, Config{Epochs: 3, Seed: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Train(context.Background(), data, nil, Config{Epochs: 3, Seed: 5}, nil)
	if a.Tau() != b.Tau() || a.Error(data[0]) != b.Error(data[0]) {
		t.Fatalf("same seed, different models: tau %g vs %g", a.Tau(), b.Tau())
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	data := manifold(r, randomBasis(r, 2, 16), 200, 0.1)
	m, err := Train(context.Background(), data[:150], data[150:], Config{Epochs: 2, Output: "tanh"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tau() != m.Tau() || got.Error(data[3]) != m.Error(data[3]) || got.Config().Output != "tanh" || got.HeldOut() != 50 {
		t.Fatal("round trip changed the model")
	}
	// The held-out sessions travel: both re-derive the same tau.
	a, errA := m.FineTune(context.Background(), data[:20], 2)
	b, errB := got.FineTune(context.Background(), data[:20], 2)
	if errA != nil || errB != nil || a.Tau() != b.Tau() || a.Tau() == m.Tau() {
		t.Fatalf("fine-tuned after a round trip: tau %g vs %g (was %g), %v %v", b.Tau(), a.Tau(), m.Tau(), errA, errB)
	}

	// Format 1 (no held-out sessions) is still read, and keeps its tau.
	var w wire.Writer
	w.U32(1)
	if err := w.JSON(m.cfg); err != nil {
		t.Fatal(err)
	}
	w.F64(m.tau)
	w.Array("mean", []int{len(m.mean)}, m.mean)
	w.Array("std", []int{len(m.std)}, m.std)
	w.Array("valid_errors", []int{len(m.validErrs)}, m.validErrs)
	m.net.Encode(&w, "autoencoder")
	v1, err := Unmarshal(w.Bytes())
	if err != nil {
		t.Fatalf("format 1: %v", err)
	}
	if v1.Tau() != m.Tau() || v1.HeldOut() != 0 || v1.Error(data[3]) != m.Error(data[3]) {
		t.Fatal("format 1 read wrongly")
	}
	if f, err := v1.FineTune(context.Background(), data[:20], 2); err != nil || f.Tau() != m.Tau() {
		t.Fatalf("format 1 model re-derived tau %g without held-out sessions (%v)", f.Tau(), err)
	}
	// A non-finite held-out session is refused.
	bad := *m
	bad.held = [][]float32{append(slices.Clone(m.held[0][:len(m.held[0])-1]), float32(math.NaN()))}
	if pb, err := bad.MarshalBinary(); err != nil {
		t.Fatal(err)
	} else if _, err := Unmarshal(pb); err == nil {
		t.Fatal("NaN held-out session accepted")
	}
	for cut := 0; cut < len(p); cut += 13 {
		if _, err := Unmarshal(p[:cut]); err == nil {
			t.Fatalf("truncated at %d accepted", cut)
		}
	}
	if _, err := Unmarshal(append(p, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	cases := map[string][][]float32{
		"empty":     nil,
		"ragged":    {{1, 2}, {1}},
		"zero":      {{}, {}},
		"nan":       {{1, float32(math.NaN())}, {1, 2}},
		"singleton": {{1, 2}},
	}
	for name, data := range cases {
		if _, err := Train(ctx, data, nil, Config{Epochs: 1}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Train(ctx, [][]float32{{1}, {2}}, nil, Config{Quantile: 1.5}, nil); err == nil {
		t.Error("quantile 1.5 accepted")
	}
	m, err := Train(ctx, [][]float32{{1, 2}, {2, 1}, {1, 1}}, nil, Config{Epochs: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e, ev := m.Evolved([]float32{1}); !math.IsInf(e, 1) || !ev {
		t.Errorf("wrong width: got %g %v, want +Inf evolved", e, ev)
	}
	if _, err := m.FineTune(ctx, [][]float32{{1, 2, 3}}, 1); err == nil {
		t.Error("fine-tune with wrong width accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.FineTune(cctx, [][]float32{{1, 2}}, 5); err == nil {
		t.Error("cancelled fine-tune returned no error")
	}
}

// Repeated validation sessions count once for tau unless AllValid.
func TestTauOverDistinctSessions(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	data := manifold(r, randomBasis(r, 2, 16), 400, 0.1)
	valid := append([][]float32{}, data[300:]...)
	for range 900 { // nine in ten validation sessions repeat one training session
		valid = append(valid, data[0])
	}
	ctx := context.Background()
	d, err := Train(ctx, data[:300], valid, Config{Epochs: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Train(ctx, data[:300], valid, Config{Epochs: 5, AllValid: true}, nil)
	u, _ := Train(ctx, data[:300], append([][]float32{data[0]}, data[300:]...), Config{Epochs: 5}, nil)
	if d.Tau() != u.Tau() {
		t.Fatalf("distinct tau %g differs from tau without the repeats %g", d.Tau(), u.Tau())
	}
	if !(a.Tau() < d.Tau()) {
		t.Fatalf("tau over all sessions %g should fall below the distinct one %g", a.Tau(), d.Tau())
	}
}

// Distance is the error a session would have if another were its
// reconstruction: the MSE between the two in standardised space, so it is
// comparable with tau.
func TestDistanceIsStandardisedMSE(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	const dim = 8
	train := manifold(r, randomBasis(r, 2, dim), 300, 0.05)
	m, err := Train(context.Background(), train, nil, Config{Epochs: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := train[0]
	if d := m.Distance(a, a); d != 0 {
		t.Fatalf("Distance(a, a) = %g", d)
	}
	// One dimension moved by one training standard deviation: 1/dim (the
	// model's deviation comes from its 80% training part, hence the slack),
	// and twice that move four times the distance.
	var mean, sq float64
	for _, v := range train {
		mean += float64(v[3])
	}
	mean /= float64(len(train))
	for _, v := range train {
		sq += (float64(v[3]) - mean) * (float64(v[3]) - mean)
	}
	std := math.Sqrt(sq / float64(len(train)))
	b := append([]float32(nil), a...)
	b[3] += float32(std)
	d1 := m.Distance(a, b)
	if math.Abs(d1-1.0/dim) > 0.25/dim {
		t.Fatalf("Distance after one std on one of %d dimensions = %g, want about %g", dim, d1, 1.0/dim)
	}
	b[3] += float32(std)
	if d2 := m.Distance(a, b); math.Abs(d2-4*d1) > 1e-3*d1 {
		t.Fatalf("Distance after two std = %g, want 4 x %g", d2, d1)
	}
	if d := m.Distance(a, b); d != m.Distance(b, a) {
		t.Fatal("Distance is not symmetric")
	}
	if d := m.Distance(a, a[:dim-1]); !math.IsInf(d, 1) {
		t.Fatalf("Distance across widths = %g, want +Inf", d)
	}
}
