package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// basicTokens is BertTokenizer's BasicTokenizer plus its handling of
// special tokens written literally in the text ("[SEP]" stays one token).
func (t *Tokenizer) basicTokens(text string) []string {
	var out []string
	for _, chunk := range splitSpecial(text) {
		if chunk.special {
			if _, ok := t.ids[chunk.text]; ok {
				out = append(out, chunk.text)
				continue
			}
		}
		out = t.basicSplit(chunk.text, out)
	}
	return out
}

type textChunk struct {
	text    string
	special bool
}

// splitSpecial cuts text around literal special tokens.
func splitSpecial(text string) []textChunk {
	if !strings.Contains(text, "[") {
		return []textChunk{{text: text}}
	}
	var chunks []textChunk
	for len(text) > 0 {
		best, bestTok := -1, ""
		for _, tok := range [...]string{TokenPad, TokenUnk, TokenCLS, TokenSEP, TokenMask} {
			if i := strings.Index(text, tok); i >= 0 && (best < 0 || i < best) {
				best, bestTok = i, tok
			}
		}
		if best < 0 {
			chunks = append(chunks, textChunk{text: text})
			break
		}
		if best > 0 {
			chunks = append(chunks, textChunk{text: text[:best]})
		}
		chunks = append(chunks, textChunk{text: bestTok, special: true})
		text = text[best+len(bestTok):]
	}
	return chunks
}

// basicSplit appends the basic tokens of text to out.
func (t *Tokenizer) basicSplit(text string, out []string) []string {
	// 1. Clean: drop NUL, U+FFFD and control characters, map whitespace to
	//    ' ', and put spaces around CJK ideographs.
	var sb strings.Builder
	sb.Grow(len(text) + 8)
	for _, r := range text {
		switch {
		case r == 0 || r == 0xFFFD || isControl(r):
			continue
		case isWhitespace(r):
			sb.WriteByte(' ')
		case isCJK(r):
			sb.WriteByte(' ')
			sb.WriteRune(r)
			sb.WriteByte(' ')
		default:
			sb.WriteRune(r)
		}
	}
	// 2. NFC (as BertTokenizer does since transformers 4.27, so that one
	//    character written two ways is one token), whitespace split, then per
	//    token: lowercase, strip accents, split on punctuation.
	cleaned := sb.String()
	if !isASCII(cleaned) {
		cleaned = norm.NFC.String(cleaned)
	}
	for _, tok := range strings.Fields(cleaned) {
		if t.lower {
			tok = strings.ToLower(tok)
		}
		if t.strip {
			tok = stripAccents(tok)
		}
		out = splitPunct(tok, out)
	}
	return out
}

// stripAccents decomposes (NFD) and drops nonspacing marks (Mn).
func stripAccents(s string) string {
	if isASCII(s) {
		return s
	}
	var sb strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// splitPunct appends the pieces of tok split around each punctuation
// character (every punctuation character is its own token).
func splitPunct(tok string, out []string) []string {
	start := 0
	for i, r := range tok {
		if isPunct(r) {
			if i > start {
				out = append(out, tok[start:i])
			}
			n := len(string(r))
			out = append(out, tok[i:i+n])
			start = i + n
		}
	}
	if start < len(tok) {
		out = append(out, tok[start:])
	}
	return out
}

// isWhitespace matches HF's _is_whitespace: space, \t, \n, \r and Zs.
func isWhitespace(r rune) bool {
	if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
		return true
	}
	return unicode.Is(unicode.Zs, r)
}

// isControl matches HF's _is_control: categories Cc and Cf except the
// whitespace controls \t \n \r.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf)
}

// isPunct matches HF's _is_punctuation: every non-alphanumeric ASCII
// printable character, and Unicode category P.
func isPunct(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return unicode.IsPunct(r)
}

// isCJK matches HF's _is_chinese_char (CJK Unified Ideographs blocks).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}
