// Package torchrt exposes the few libtorch runtime controls that gotch does
// not wrap in Go: the global RNG seed (for repeatable training) and the
// intra-op thread count. The C functions live in gotch's libtch, which is
// linked into the same binary.
package torchrt

/*
#include <stdint.h>
void at_manual_seed(int64_t);
void at_set_num_threads(int n_threads);
int at_get_num_threads();
*/
import "C"

import (
	// libtch provides the symbols declared above.
	_ "github.com/sugarme/gotch/libtch"
)

// ManualSeed seeds libtorch's global random generator.
func ManualSeed(seed int64) { C.at_manual_seed(C.int64_t(seed)) }

// SetNumThreads sets libtorch's intra-op thread pool size; n <= 0 leaves it.
func SetNumThreads(n int) {
	if n > 0 {
		C.at_set_num_threads(C.int(n))
	}
}

// NumThreads reports libtorch's intra-op thread pool size.
func NumThreads() int { return int(C.at_get_num_threads()) }
