package encoder

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>

// set_blas_threads calls OpenBLAS's openblas_set_num_threads when the BLAS
// that libtorch loaded is OpenBLAS (Debian's libtorch is built that way);
// it returns 0 when there is no such function (MKL, reference BLAS).
static int set_blas_threads(int n) {
	void (*f)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
	if (f == 0) return 0;
	f(n);
	return 1;
}
*/
import "C"

import "github.com/coorlog/coorlogprocessor/internal/torchrt"

// SetThreads sets libtorch's intra-op thread pool and, when libtorch uses
// OpenBLAS, OpenBLAS's own pool, which at::set_num_threads does not reach.
// Both are process-wide. n <= 0 leaves them. Measured here: with OpenBLAS
// left at its default (one thread per core, busy-waiting), the CPU time per
// line of a batch of 32 roughly tripled on a shared 2-core machine.
func SetThreads(n int) (blas bool) {
	if n <= 0 {
		return false
	}
	torchrt.SetNumThreads(n)
	return C.set_blas_threads(C.int(n)) == 1
}
