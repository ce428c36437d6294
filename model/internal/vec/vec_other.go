//go:build !amd64

package vec

const useAsm = false

func dotRowsAVX2(m, q, out *float32, rows, d int) { panic("unreachable") }
