package wire

import (
	"errors"
	"math"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var w Writer
	w.U8(7)
	w.U32(1 << 20)
	w.U64(math.MaxUint64)
	w.F64(-2.5)
	w.String("héllo")
	if err := w.JSON(map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	w.Array("w", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	r := NewReader(w.Bytes())
	var m map[string]int
	if r.U8() != 7 || r.U32() != 1<<20 || r.U64() != math.MaxUint64 || r.F64() != -2.5 || r.String() != "héllo" {
		t.Fatal("scalar round trip")
	}
	r.JSON(&m)
	shape, data := r.Array("w")
	if r.Err() != nil || m["a"] != 1 || len(shape) != 2 || shape[1] != 3 || data[5] != 6 || r.Remaining() != 0 {
		t.Fatalf("err %v shape %v data %v", r.Err(), shape, data)
	}
}

// Declared lengths beyond the data fail without allocating them.
func TestHostileLengths(t *testing.T) {
	var w Writer
	w.U64(math.MaxUint64) // a blob "of" 2^64-1 bytes
	r := NewReader(w.Bytes())
	if r.Blob() != nil || !errors.Is(r.Err(), ErrShort) {
		t.Fatalf("huge blob: %v", r.Err())
	}
	var v Writer
	v.U64(1 << 40) // 2^40 floats
	r = NewReader(v.Bytes())
	if r.F32s() != nil || !errors.Is(r.Err(), ErrShort) {
		t.Fatalf("huge vector: %v", r.Err())
	}
	// After a failure every read is a zero value.
	if r.U32() != 0 || r.String() != "" {
		t.Fatal("reads after failure")
	}
}

func TestArrayChecks(t *testing.T) {
	cases := map[string]func(w *Writer){
		"name":  func(w *Writer) { w.Array("other", []int{1}, []float32{1}) },
		"count": func(w *Writer) { w.String("a"); w.U8(1); w.U64(3); w.F32s([]float32{1}) },
		"rank":  func(w *Writer) { w.String("a"); w.U8(9) },
		"dim":   func(w *Writer) { w.String("a"); w.U8(1); w.U64(math.MaxUint64) },
		"overflow": func(w *Writer) {
			w.String("a")
			w.U8(3)
			w.U64(1 << 30)
			w.U64(1 << 30)
			w.U64(1 << 30)
		},
	}
	for name, write := range cases {
		var w Writer
		write(&w)
		r := NewReader(w.Bytes())
		if _, d := r.Array("a"); d != nil || r.Err() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r := NewReader([]byte("{"))
	var x any
	r.JSON(&x)
	if r.Err() == nil {
		t.Error("truncated JSON blob accepted")
	}
}
