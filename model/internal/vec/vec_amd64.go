package vec

import "golang.org/x/sys/cpu"

var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotRowsAVX2 is DotRows for d a multiple of 8. Rows are independent, so the
// out-of-order core overlaps the short per-row FMA chains.
//
//go:noescape
func dotRowsAVX2(m, q, out *float32, rows, d int)
