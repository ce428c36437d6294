// Package vec holds the float32 kernels of inference: dense row dot products
// (used by the MLP layers and by the exact kNN search) and L2 normalisation.
// On amd64 with AVX2+FMA the row kernel runs in assembly; elsewhere, or for
// widths that are not a multiple of 8, a portable Go loop does the same.
package vec

import "math"

// DotRows writes out[r] = dot(m[r*d:(r+1)*d], q) for every row r of the
// row-major matrix m (len(m) = len(out)*d, d = len(q)).
func DotRows(m, q, out []float32) {
	d := len(q)
	rows := len(out)
	if rows == 0 {
		return
	}
	if d == 0 {
		clear(out)
		return
	}
	_ = m[rows*d-1] // bounds check once, for the assembly path too
	if useAsm && d%8 == 0 {
		dotRowsAVX2(&m[0], &q[0], &out[0], rows, d)
		return
	}
	dotRowsGo(m, q, out)
}

func dotRowsGo(m, q, out []float32) {
	d := len(q)
	for r := range out {
		out[r] = Dot(m[r*d:(r+1)*d], q)
	}
}

// Dot is the inner product of a and b (len(b) >= len(a)).
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// Normalize scales v to unit L2 norm in place; a zero vector stays zero.
func Normalize(v []float32) {
	n := math.Sqrt(float64(Dot(v, v)))
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return
	}
	inv := float32(1 / n)
	for i := range v {
		v[i] *= inv
	}
}

// Finite reports whether every element of v is a real number (no NaN, no
// ±Inf): vectors from outside (an encoder, a file) are checked before use.
func Finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// Cosine is the cosine similarity of a and b accumulated in float64, precise
// enough to tell "the same vector" (1 - 1e-6) apart: NaN for different
// lengths, 1 for two zero vectors, 0 for one.
func Cosine(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		if aa == bb {
			return 1
		}
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}
