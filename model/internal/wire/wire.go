// Package wire is the little-endian binary encoding shared by the model
// sections of a bundle: scalars, strings, JSON blobs and named float32 arrays.
// The Reader checks every length against the bytes that remain, so a corrupt
// or hostile input yields an error, never a panic or a huge allocation.
package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// ErrShort reports input that ends before a declared length.
var ErrShort = errors.New("unexpected end of data")

// maxDims bounds the rank of an array; our models use rank 1 and 2.
const maxDims = 4

// Writer appends encoded values to a byte slice.
type Writer struct{ b []byte }

// Bytes returns the encoded data.
func (w *Writer) Bytes() []byte { return w.b }

func (w *Writer) U8(v uint8)   { w.b = append(w.b, v) }
func (w *Writer) U32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *Writer) U64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *Writer) F64(v float64) {
	w.U64(math.Float64bits(v))
}

// Blob writes a length-prefixed byte string.
func (w *Writer) Blob(p []byte) {
	w.U64(uint64(len(p)))
	w.b = append(w.b, p...)
}

// String writes a length-prefixed string.
func (w *Writer) String(s string) {
	w.U64(uint64(len(s)))
	w.b = append(w.b, s...)
}

// JSON writes v as a length-prefixed JSON document.
func (w *Writer) JSON(v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	w.Blob(p)
	return nil
}

// F32s writes a length-prefixed float32 vector.
func (w *Writer) F32s(v []float32) {
	w.U64(uint64(len(v)))
	for _, x := range v {
		w.U32(math.Float32bits(x))
	}
}

// Array writes a named float32 array of the given shape; len(data) must be
// the product of shape.
func (w *Writer) Array(name string, shape []int, data []float32) {
	w.String(name)
	w.U8(uint8(len(shape)))
	for _, d := range shape {
		w.U64(uint64(d))
	}
	w.F32s(data)
}

// Reader decodes values written by Writer. After the first failure every call
// returns zero values and Err reports the failure.
type Reader struct {
	b   []byte
	off int
	err error
}

// NewReader reads from p.
func NewReader(p []byte) *Reader { return &Reader{b: p} }

// Err is the first error met, if any.
func (r *Reader) Err() error { return r.err }

// Remaining is the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.b) - r.off }

func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *Reader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(r.Remaining()) {
		r.fail(fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrShort, n, r.off, r.Remaining()))
		return nil
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p
}

func (r *Reader) U8() uint8 {
	p := r.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *Reader) U32() uint32 {
	p := r.take(4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

func (r *Reader) U64() uint64 {
	p := r.take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (r *Reader) F64() float64 { return math.Float64frombits(r.U64()) }

// Blob reads a length-prefixed byte string (a sub-slice of the input).
func (r *Reader) Blob() []byte { return r.take(r.U64()) }

// String reads a length-prefixed string.
func (r *Reader) String() string { return string(r.Blob()) }

// JSON reads a length-prefixed JSON document into v.
func (r *Reader) JSON(v any) {
	p := r.Blob()
	if r.err != nil {
		return
	}
	if err := json.Unmarshal(p, v); err != nil {
		r.fail(fmt.Errorf("decode json: %w", err))
	}
}

// F32s reads a length-prefixed float32 vector.
func (r *Reader) F32s() []float32 {
	n := r.U64()
	if r.err != nil {
		return nil
	}
	if n > uint64(r.Remaining())/4 {
		r.fail(fmt.Errorf("%w: float32 vector of %d elements at offset %d, have %d bytes", ErrShort, n, r.off, r.Remaining()))
		return nil
	}
	p := r.take(4 * n)
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return out
}

// Array reads a named array and checks that its name is want and that the
// element count matches its shape.
func (r *Reader) Array(want string) (shape []int, data []float32) {
	name := r.String()
	nd := int(r.U8())
	if r.err != nil {
		return nil, nil
	}
	if name != want {
		r.fail(fmt.Errorf("array %q: found %q instead", want, name))
		return nil, nil
	}
	if nd > maxDims {
		r.fail(fmt.Errorf("array %q: rank %d exceeds %d", want, nd, maxDims))
		return nil, nil
	}
	count := uint64(1)
	shape = make([]int, nd)
	for i := range shape {
		d := r.U64()
		if d > math.MaxInt32 {
			r.fail(fmt.Errorf("array %q: dimension %d is %d", want, i, d))
			return nil, nil
		}
		shape[i] = int(d)
		count *= d
		if count > math.MaxInt32 {
			r.fail(fmt.Errorf("array %q: too many elements", want))
			return nil, nil
		}
	}
	data = r.F32s()
	if r.err == nil && uint64(len(data)) != count {
		r.fail(fmt.Errorf("array %q: %d elements for shape %v", want, len(data), shape))
		return nil, nil
	}
	return shape, data
}

// Fail records an error found by the caller's own validation.
func (r *Reader) Fail(err error) { r.fail(err) }
