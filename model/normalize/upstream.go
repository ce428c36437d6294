package normalize

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// UpstreamKey is the content key of a session whose lines came with their
// templates from upstream (the log.record.template attribute that
// collector-contrib's drainprocessor writes): a stable hash (32 hex digits) of
// the template sequence, taken as given. It is a key space of its own: the
// same lines keyed by TemplateKey give another key.
func UpstreamKey(templates []string) string {
	h := sha256.New()
	h.Write([]byte("upstream-template/1"))
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(templates)))
	h.Write(n[:])
	for _, t := range templates {
		binary.LittleEndian.PutUint64(n[:], uint64(len(t)))
		h.Write(n[:])
		h.Write([]byte(t))
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// SessionKey is a session's content key: UpstreamKey of its templates when
// every line came with one, else key(lines).
func SessionKey(lines, templates []string, key func([]string) string) string {
	if len(templates) > 0 && len(templates) == len(lines) {
		return UpstreamKey(templates)
	}
	return key(lines)
}
