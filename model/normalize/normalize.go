// Package normalize masks the variable parts of a log line (numbers, ids,
// addresses, paths, times, sizes, ...) into placeholders, so that lines printed
// by one template share one string. It is the key of the embedding cache and of
// the LLM verdict cache, and the text the default encoder was trained on.
//
// Line is a hand-written single-pass scanner (no regular expressions): it sits
// on the hot path of every cached line. It examines at most MaxBytes bytes of a
// line, accepts any bytes (invalid UTF-8 included) and never panics.
//
// What it does, in order:
//   - whitespace and control characters collapse to one space; the result is trimmed;
//   - the line is cut into chunks at spaces and at the delimiters = , ; " ' ( ) [ ] { } < > |
//     (kept verbatim); a whole chunk may be a URL, an e-mail address or a path;
//   - inside a chunk, each alphanumeric run is tried as a UUID, 0x-hex, IPv4 (with
//     port or /mask), IPv6, date/time, hex id, number with a size or duration unit,
//     number, or long alphanumeric id; other words keep their letters and have
//     their digit runs masked (dn228 -> dn<NUM>);
//   - a short random-looking run glued to an id by . - _ or : belongs to it
//     (_INBOX.<nuid>.51FzRqiD -> _INBOX.<ID>, coredns-7d9c8b6f5d-x2k9p -> coredns-<HEX>);
//   - a run of dates, times, numbers and month/day names glued by single
//     separators around at least one time becomes one <TS> (so "Sun Dec 04
//     04:47:44 2005" and "2015-10-18 18:01:47,978" are both <TS>); a number
//     followed by a unit word ("9.6 KB", "214 seconds") becomes <SIZE> or <DUR>.
//
// Log headers (date, time, pid, level, component) are not stripped: their
// variable parts are masked like any other, so the header of a system becomes a
// constant prefix, and the level and component, which carry meaning, stay.
package normalize

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"unicode/utf8"
)

// MaxBytes is how much of a line Line examines; the rest is ignored. Lines
// that differ only after it share a normalised form (the encoder truncates
// long lines far earlier, at max_position tokens, so their embedding would be
// the same anyway).
const MaxBytes = 2048

// Version names the masking rules. It is part of every TemplateKey, so a change
// of the rules never mixes keys of two versions in a persisted cache.
const Version = "normalize/v3"

// Placeholders written by Line.
const (
	Num   = "<NUM>"   // integer or decimal, optionally signed: 42, -7, 3.14, 6.1.7601
	Hex   = "<HEX>"   // 0x1f, or a hex run with letters and digits of 6+ chars: 9f4ef63
	ID    = "<ID>"    // UUID, a long alphanumeric id, a 9+ digit number glued to a word by "_" (blk_-6991853982611346454)
	IP    = "<IP>"    // IPv4 (with :port or /mask) or IPv6
	Path  = "<PATH>"  // /usr/lib/x, C:\Windows\x, ./x, ~/x, a/b/c
	URL   = "<URL>"   // scheme://...
	Email = "<EMAIL>" // user@example.com
	TS    = "<TS>"    // dates, times, and whole timestamps
	Dur   = "<DUR>"   // 12ms, 3.5s, 214 seconds
	Size  = "<SIZE>"  // 10MB, 4 KiB, 512 bytes
	Host  = "<HOST>"  // a DNS name ending in a common top-level domain, with an optional :port: proxy.cse.cuhk.edu.hk:5070
)

// Placeholders returns every placeholder Line can write (a new slice each
// call), e.g. for adding them to a tokenizer vocabulary as whole tokens.
func Placeholders() []string {
	return []string{Num, Hex, ID, IP, Path, URL, Email, TS, Dur, Size, Host}
}

type kind uint8

const (
	kText  kind = iota // copied from the input
	kSpace             // one space
	kNum
	kHex
	kID
	kIP
	kPath
	kURL
	kEmail
	kTS
	kDur
	kSize
	kHost
	kWordNum // a digit run inside a word (dn228): rendered <NUM>, never part of a timestamp
	kQuote   // a single quote that delimits a quoted value: rendered as a double quote
)

var placeholder = [...]string{kQuote: `"`, kWordNum: Num, kNum: Num, kHex: Hex, kID: ID, kIP: IP, kPath: Path, kURL: URL, kEmail: Email, kTS: TS, kDur: Dur, kSize: Size, kHost: Host}

// tok is one output token; a kText token is the input bytes [a,b). Offsets,
// not strings: a token holds no pointer, so filling the token buffer needs no
// GC write barriers (this is the hot path of every cached line).
type tok struct {
	k    kind
	a, b int32
}

// Line returns the normalised form of a log line. See the package comment.
func Line(s string) string {
	var buf [256]byte // most lines: no buffer on the heap, only the string
	return string(AppendLine(buf[:0], s))
}

// AppendLine appends the normalised form of s to dst (Line makes it a
// string): the content memo hashes every line of a session and keeps none.
func AppendLine(dst []byte, s string) []byte {
	var arr [64]tok
	s, t := tokens(s, arr[:0])
	start := len(dst)
	for _, x := range t {
		switch x.k {
		case kText:
			dst = append(dst, s[x.a:x.b]...)
		case kSpace:
			dst = append(dst, ' ')
		default:
			dst = append(dst, placeholder[x.k]...)
		}
	}
	if !utf8.Valid(dst[start:]) {
		dst = append(dst[:start], bytes.ToValidUTF8(dst[start:], []byte("\uFFFD"))...)
	}
	return dst
}

// tokens cuts s (at most MaxBytes of it, which it returns) into the tokens
// Line writes, appending them to t.
func tokens(s string, t []tok) (string, []tok) {
	if len(s) > MaxBytes {
		s = s[:MaxBytes]
	}
	quotes := false // a quote delimiter was seen (quotedFields has work)
	i := 0
	for i < len(s) {
		c := s[i]
		if isSpace(c) {
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			if len(t) > 0 {
				t = append(t, tok{k: kSpace})
			}
			continue
		}
		if isDelim(c) {
			t = append(t, tok{a: int32(i), b: int32(i + 1)})
			quotes = quotes || c == '"' || c == '\''
			i++
			continue
		}
		j := i
		var cls uint8 // the byte classes the chunk has
		for j < len(s) && !isSpaceOrDelim(s[j]) {
			cls |= byteClass[s[j]]
			j++
		}
		if cls&cColon != 0 { // else no URL starts here (scheme://)
			if n := urlLen(s[i:]); n > 0 {
				t = append(t, tok{k: kURL})
				i += n
				continue
			}
		}
		end := j
		for end > i && isTrailing(s[end-1]) {
			end--
		}
		k, pre := kText, ""
		if cls&cEntity != 0 { // else no e-mail address or path
			k, pre = classifyChunk(s[i:end])
		}
		if k != kText {
			if pre != "" { // a prefix of the chunk
				t = append(t, tok{a: int32(i), b: int32(i + len(pre))})
			}
			t = append(t, tok{k: k})
			if end < j {
				t = append(t, tok{a: int32(end), b: int32(j)})
			}
		} else {
			t = scanChunk(t, s, i, j)
		}
		i = j
	}
	if n := len(t); n > 0 && t[n-1].k == kSpace {
		t = t[:n-1]
	}
	if quotes {
		t = quotedFields(t, s)
	}
	return s, mergeUnits(mergeTimes(t, s), s)
}

// TemplateKey is a stable hash (32 hex digits) of the normalised sequence of
// lines: two sessions whose lines are the same templates in the same order get
// the same key. It includes Version.
func TemplateKey(lines []string) string {
	h := sha256.New()
	h.Write([]byte(Version))
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(lines)))
	h.Write(n[:])
	for _, l := range lines {
		nl := Line(l)
		binary.LittleEndian.PutUint64(n[:], uint64(len(nl)))
		h.Write(n[:])
		h.Write([]byte(nl))
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}
