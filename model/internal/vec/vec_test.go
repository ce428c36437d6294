package vec

import (
	"math"
	"math/rand"
	"testing"
)

func TestDotRowsMatchesGo(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, d := range []int{1, 3, 8, 16, 24, 32, 40, 64, 72, 128, 768} {
		for _, rows := range []int{1, 2, 7, 100} {
			m := make([]float32, rows*d)
			q := make([]float32, d)
			for i := range m {
				m[i] = r.Float32()*2 - 1
			}
			for i := range q {
				q[i] = r.Float32()*2 - 1
			}
			got := make([]float32, rows)
			want := make([]float32, rows)
			DotRows(m, q, got)
			dotRowsGo(m, q, want)
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-4*math.Sqrt(float64(d)) {
					t.Fatalf("d=%d rows=%d row %d: %v vs %v", d, rows, i, got[i], want[i])
				}
			}
		}
	}
}

func TestDotRowsEmpty(t *testing.T) {
	DotRows(nil, []float32{1}, nil)
	out := []float32{5}
	DotRows(nil, nil, out)
	if out[0] != 0 {
		t.Fatal("zero-width rows must give 0")
	}
}

func TestNormalize(t *testing.T) {
	v := []float32{3, 4}
	Normalize(v)
	if math.Abs(float64(v[0])-0.6) > 1e-6 || math.Abs(float64(v[1])-0.8) > 1e-6 {
		t.Fatalf("got %v", v)
	}
	z := []float32{0, 0}
	Normalize(z)
	if z[0] != 0 || z[1] != 0 {
		t.Fatalf("zero vector changed: %v", z)
	}
}

func BenchmarkDotRows10kx32(b *testing.B) {
	m := make([]float32, 10000*32)
	q := make([]float32, 32)
	for i := range m {
		m[i] = float32(i%7) * 0.1
	}
	out := make([]float32, 10000)
	for b.Loop() {
		DotRows(m, q, out)
	}
}

func TestCosine(t *testing.T) {
	a := []float32{1, 2, 3}
	for _, c := range []struct {
		b    []float32
		want float64
	}{
		{[]float32{2, 4, 6}, 1},
		{[]float32{-1, -2, -3}, -1},
		{[]float32{3, 0, -1}, 0},
	} {
		if got := Cosine(a, c.b); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Cosine(%v, %v) = %g, want %g", a, c.b, got, c.want)
		}
	}
	// float64 accumulation: one part in a million apart is not "the same".
	b := []float32{1, 2, 3.01}
	if got := Cosine(a, b); got >= 1-1e-6 || got < 1-1e-4 {
		t.Errorf("Cosine of near vectors = %.9f", got)
	}
	if !math.IsNaN(Cosine(a, a[:2])) || Cosine([]float32{0, 0}, []float32{0, 0}) != 1 || Cosine([]float32{0, 0}, []float32{1, 0}) != 0 {
		t.Error("edge cases")
	}
}
