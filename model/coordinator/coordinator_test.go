package coordinator

import (
	"context"
	"math"
	"math/rand"
	"testing"
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
