// Package cut shortens text to a byte budget without splitting a rune: the one
// truncation the stream processor (detector lines, session keys), the kNN
// memory (kept session text) and the LLM stage (prompts, reasons) share.
package cut

import "unicode/utf8"

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
