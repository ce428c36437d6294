package coordinator

import (
	"context"
	"math"
	"math/rand"
	"testing"
)

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
	// tau is the default 0.95 quantile of held-out old errors: about 5% of
	// fresh old sessions reach it; nearly every session of the new version
	// does.
	q := m.Config().Quantile
	if q != 0.95 {
		t.Fatalf("default quantile %v", q)
	}
	if s := share(m, heldOut); s < 0.01 || s > 0.12 {
		t.Errorf("old sessions marked evolved: %.3f, want about 0.05", s)
	}
	if s := share(m, evolved); s < 0.95 {
		t.Errorf("evolved sessions marked evolved: %.3f, want >= 0.95", s)
	}
	if got, want := m.TauAt(q), m.Tau(); math.Abs(got-want) > 1e-6*max(1, want) {
		t.Errorf("TauAt(%v) = %g, tau %g", q, got, want)
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
	// Tau keeps its definition: the same quantile of the held-out old
	// sessions' error, now under the fine-tuned network (the training split
	// held out 20% of train: 300 sessions, all kept).
	if m.HeldOut() != 300 {
		t.Fatalf("%d held-out sessions kept, want 300", m.HeldOut())
	}
	if n.Tau() == m.Tau() {
		t.Fatal("FineTune kept the old tau")
	}
	if got, want := n.Tau(), n.TauAt(q); got != want {
		t.Fatalf("tau after FineTune %g, %v quantile of held-out error %g", got, q, want)
	}
	if s := share(n, heldOut); s < 0.01 || s > 0.12 {
		t.Errorf("after fine-tuning, %.3f of fresh old sessions above the re-derived tau, want about 0.05", s)
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
