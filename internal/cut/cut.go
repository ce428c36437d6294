// Package cut shortens text to a byte budget without splitting a rune: the one
// truncation the stream processor (detector lines, session keys), the kNN
// memory (kept session text) and the LLM stage (prompts, reasons) share.
package cut

import (
	"strings"
	"unicode/utf8"
)

// UTF8 returns the longest prefix of s of at most n bytes that does not end
// inside a valid UTF-8 sequence. Where s is not UTF-8 near the limit (no rune
// start within utf8.UTFMax bytes), it cuts at the byte limit.
func UTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	for c := n; c > n-utf8.UTFMax && c >= 0; c-- {
		if c == 0 || utf8.RuneStart(s[c]) {
			return s[:c]
		}
	}
	return s[:n]
}

// Detach replaces each line by a copy, all copies in one new buffer, and
// returns lines. Text that is kept (the kNN memory, recent sessions, learn
// mode's sessions) is detached from what it was cut from: a detector line can
// be a view into a session's whole held records (processor/held.go), and a
// kept line must not keep those alive.
func Detach(lines []string) []string {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	var b strings.Builder
	b.Grow(n)
	for _, l := range lines {
		b.WriteString(l)
	}
	all, start := b.String(), 0
	for i, l := range lines {
		lines[i] = all[start : start+len(l)]
		start += len(l)
	}
	return lines
}
