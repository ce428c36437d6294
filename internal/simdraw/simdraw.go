// Package simdraw is the draw the project's simulated LLMs share
// (`coorlog eval --llm simulated[-content]:ACC` in model/llm, and the
// OpenAI-compatible stand-in of internal/fakellm): whether a simulated LLM
// answers a key (a session ID, or a session's content) right.
package simdraw

import (
	"encoding/binary"
	"hash/fnv"
)

// Right reports whether the simulated LLM answers key right: a uniform draw
// from hash(seed, key) compared with accuracy. The same seed and key always
// give the same answer.
func Right(seed int64, key string, accuracy float64) bool {
	h := fnv.New64a()
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], uint64(seed))
	h.Write(s[:])
	h.Write([]byte(key))
	x := h.Sum64()
	// splitmix64 finaliser: FNV's low bits alone are poorly mixed.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	u := float64(x>>11) / (1 << 53)
	return u < accuracy
}
