package encoder

/*
#include <stdint.h>
#include <stdlib.h>

// Declarations of gotch's C layer (libtch, linked in through gotch's
// packages); see .deps/gotch/libtch/torch_api*.h.
typedef void *tensor;
char *get_and_reset_last_err();
void at_free(tensor);
void at_copy_data(tensor t, void *vs, size_t numel, size_t element_size_in_bytes);
tensor at_tensor_of_data(void *vs, int64_t *dims, size_t ndims, size_t element_size_in_bytes, int type);
void atg_add(tensor *, tensor self, tensor other);
void atg_contiguous(tensor *, tensor self);
void atg_div(tensor *, tensor self, tensor other);
void atg_dropout(tensor *, tensor input, double p, int train);
void atg_embedding(tensor *, tensor weight, tensor indices, int64_t padding_idx, int scale_grad_by_freq, int sparse);
void atg_gelu(tensor *, tensor self, char* approximate_ptr, int approximate_len);
void atg_layer_norm(tensor *, tensor input, int64_t *normalized_shape_data, int normalized_shape_len, tensor weight, tensor bias, double eps, int cudnn_enable);
void atg_linear(tensor *, tensor input, tensor weight, tensor bias);
void atg_matmul(tensor *, tensor self, tensor other);
void atg_maximum(tensor *, tensor self, tensor other);
void atg_mul(tensor *, tensor self, tensor other);
void atg_narrow(tensor *, tensor self, int64_t dim, int64_t start, int64_t length);
void atg_select(tensor *, tensor self, int64_t dim, int64_t index);
void atg_softmax(tensor *, tensor self, int64_t dim, int dtype);
void atg_sub(tensor *, tensor self, tensor other);
void atg_sum_dim_intlist(tensor *, tensor self, int64_t *dim_data, int dim_len, int keepdim, int dtype);
void atg_totype(tensor *, tensor self, int scalar_type);
void atg_transpose(tensor *, tensor self, int64_t dim0, int64_t dim1);
void atg_unsqueeze(tensor *, tensor self, int64_t dim);
void atg_view(tensor *, tensor self, int64_t *size_data, int size_len);

static void atg_gelu_exact(tensor *out, tensor self) { atg_gelu(out, self, (char *)"none", 4); }
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// The forward pass calls gotch's C layer directly instead of its Go tensor
// API. gotch's generated Go wrappers leak a malloc per operation (the output
// slot is malloc(0) and never freed: ~2.5 KB per forward pass of a 2-layer
// model, measured) and attach a 100 KB Go allocation and a finalizer to
// every tensor; a BERT forward makes ~25 tensors per layer. Here each
// intermediate is a bare libtorch handle, freed as soon as it is used.
// Autograd works the same (it lives in libtorch), so Forward still trains.

// tensor is a libtorch tensor handle. A tensor made by an op below is owned
// by the caller, who frees it exactly once; a borrowed one is never freed.
type tensor struct{ c C.tensor }

// borrow gives the handle of a gotch tensor; the gotch tensor keeps it.
func borrow(t *ts.Tensor) tensor { return tensor{C.tensor(t.Ctensor())} }

// gotchTensor hands ownership of t to a gotch tensor.
func (t tensor) gotchTensor() *ts.Tensor { return ts.FromCtensor(unsafe.Pointer(t.c)) }

func (t tensor) free() { C.at_free(t.c) }

// done frees the used tensors and returns r: x = done(f(x), x).
func done(r tensor, used ...tensor) tensor {
	for _, u := range used {
		u.free()
	}
	return r
}

// check turns libtorch's (thread-local) last error into a panic: the ops
// below only fail on a programming error (shapes are validated before the
// forward pass); Encoder.Embed recovers it into an error. Callers must hold
// their OS thread (runtime.LockOSThread) so that the error is read on the
// thread that set it.
func check(op string, out C.tensor) tensor {
	if msg := C.get_and_reset_last_err(); msg != nil {
		s := C.GoString(msg)
		C.free(unsafe.Pointer(msg))
		panic(fmt.Errorf("libtorch %s: %s", op, s))
	}
	return tensor{out}
}

func cInts(v []int64) (*C.int64_t, C.int) {
	return (*C.int64_t)(unsafe.Pointer(&v[0])), C.int(len(v))
}

var cFloat = C.int(gotch.Float.CInt())

func add(a, b tensor) tensor { var o C.tensor; C.atg_add(&o, a.c, b.c); return check("add", o) }
func sub(a, b tensor) tensor { var o C.tensor; C.atg_sub(&o, a.c, b.c); return check("sub", o) }
func mul(a, b tensor) tensor { var o C.tensor; C.atg_mul(&o, a.c, b.c); return check("mul", o) }
func div(a, b tensor) tensor { var o C.tensor; C.atg_div(&o, a.c, b.c); return check("div", o) }
func maximum(a, b tensor) tensor {
	var o C.tensor
	C.atg_maximum(&o, a.c, b.c)
	return check("maximum", o)
}
func matmul(a, b tensor) tensor {
	var o C.tensor
	C.atg_matmul(&o, a.c, b.c)
	return check("matmul", o)
}

func linearOp(x, w, b tensor) tensor {
	var o C.tensor
	C.atg_linear(&o, x.c, w.c, b.c)
	return check("linear", o)
}

func embedding(w, ids tensor) tensor {
	var o C.tensor
	C.atg_embedding(&o, w.c, ids.c, -1, 0, 0)
	return check("embedding", o)
}

func layerNormOp(x, w, b tensor, dim []int64, eps float64) tensor {
	var o C.tensor
	d, n := cInts(dim)
	C.atg_layer_norm(&o, x.c, d, n, w.c, b.c, C.double(eps), 0)
	return check("layer_norm", o)
}

// geluExact is GELU with erf (HF "gelu"), not the tanh approximation.
func geluExact(x tensor) tensor {
	var o C.tensor
	C.atg_gelu_exact(&o, x.c)
	return check("gelu", o)
}

func softmax(x tensor, dim int64) tensor {
	var o C.tensor
	C.atg_softmax(&o, x.c, C.int64_t(dim), cFloat)
	return check("softmax", o)
}

func dropoutOp(x tensor, p float64) tensor {
	var o C.tensor
	C.atg_dropout(&o, x.c, C.double(p), 1)
	return check("dropout", o)
}

func toFloat(x tensor) tensor {
	var o C.tensor
	C.atg_totype(&o, x.c, cFloat)
	return check("totype", o)
}

func view(x tensor, shape ...int64) tensor {
	var o C.tensor
	if len(shape) == 0 {
		C.atg_view(&o, x.c, nil, 0)
	} else {
		d, n := cInts(shape)
		C.atg_view(&o, x.c, d, n)
	}
	return check("view", o)
}

func transpose(x tensor, d0, d1 int64) tensor {
	var o C.tensor
	C.atg_transpose(&o, x.c, C.int64_t(d0), C.int64_t(d1))
	return check("transpose", o)
}

func contiguous(x tensor) tensor {
	var o C.tensor
	C.atg_contiguous(&o, x.c)
	return check("contiguous", o)
}

func narrow(x tensor, dim, start, length int64) tensor {
	var o C.tensor
	C.atg_narrow(&o, x.c, C.int64_t(dim), C.int64_t(start), C.int64_t(length))
	return check("narrow", o)
}

func selectAt(x tensor, dim, index int64) tensor {
	var o C.tensor
	C.atg_select(&o, x.c, C.int64_t(dim), C.int64_t(index))
	return check("select", o)
}

func unsqueeze(x tensor, dim int64) tensor {
	var o C.tensor
	C.atg_unsqueeze(&o, x.c, C.int64_t(dim))
	return check("unsqueeze", o)
}

func sumDim(x tensor, dim int64) tensor {
	var o C.tensor
	d := []int64{dim}
	dp, n := cInts(d)
	C.atg_sum_dim_intlist(&o, x.c, dp, n, 0, cFloat)
	return check("sum", o)
}

// int64Tensor makes a tensor from Go data (copied).
func int64Tensor(data []int64, shape ...int64) tensor {
	d, n := cInts(shape)
	o := C.at_tensor_of_data(unsafe.Pointer(&data[0]), d, C.size_t(n), 8, C.int(gotch.Int64.CInt()))
	return check("tensor_of_data", o)
}

// float32Tensor makes a tensor from Go data (copied); no shape is a scalar.
func float32Tensor(data []float32, shape ...int64) tensor {
	var o C.tensor
	if len(shape) == 0 {
		o = C.at_tensor_of_data(unsafe.Pointer(&data[0]), nil, 0, 4, cFloat)
	} else {
		d, n := cInts(shape)
		o = C.at_tensor_of_data(unsafe.Pointer(&data[0]), d, C.size_t(n), 4, cFloat)
	}
	return check("tensor_of_data", o)
}

// copyFloat32 copies a contiguous float32 tensor of len(dst) elements out.
func copyFloat32(x tensor, dst []float32) {
	C.at_copy_data(x.c, unsafe.Pointer(&dst[0]), C.size_t(len(dst)), 4)
	check("copy_data", nil)
}
