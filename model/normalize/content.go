package normalize

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// ContentKey is a stable hash (32 hex digits) of a session's content: the set
// of its normalised lines, without order or repetition. It is the one
// definition of "the same session content" (issue 11): sessions that print
// the same templates, in any order and any number of times, share it. It is
// coarser than TemplateKey (the sequence) and, like it, includes Version.
func ContentKey(lines []string) string {
	set := make([]string, len(lines))
	for i, l := range lines {
		set[i] = Line(l)
	}
	slices.Sort(set)
	set = slices.Compact(set)
	h := sha256.New()
	h.Write([]byte(Version + "/content"))
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(set)))
	h.Write(n[:])
	for _, l := range set {
		binary.LittleEndian.PutUint64(n[:], uint64(len(l)))
		h.Write(n[:])
		h.Write([]byte(l))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
