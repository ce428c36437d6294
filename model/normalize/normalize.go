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
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// MaxBytes is how much of a line Line examines; the rest is ignored. Lines
// that differ only after it share a normalised form (the encoder truncates
// long lines far earlier, at max_position tokens, so their embedding would be
// the same anyway).
const MaxBytes = 2048

// Version names the masking rules. It is part of every TemplateKey, so a change
// of the rules never mixes keys of two versions in a persisted cache.
const Version = "normalize/v2"

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
	if len(s) > MaxBytes {
		s = s[:MaxBytes]
	}
	var arr [64]tok
	t := arr[:0]
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
			i++
			continue
		}
		if n := urlLen(s[i:]); n > 0 {
			t = append(t, tok{k: kURL})
			i += n
			continue
		}
		j := i
		for j < len(s) && !isSpace(s[j]) && !isDelim(s[j]) {
			j++
		}
		end := j
		for end > i && isTrailing(s[end-1]) {
			end--
		}
		if k, pre := classifyChunk(s[i:end]); k != kText {
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
	t = mergeUnits(mergeTimes(quotedFields(t, s), s), s)

	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, x := range t {
		switch x.k {
		case kText:
			b.WriteString(s[x.a:x.b])
		case kSpace:
			b.WriteByte(' ')
		default:
			b.WriteString(placeholder[x.k])
		}
	}
	out := b.String()
	if !utf8.ValidString(out) {
		out = strings.ToValidUTF8(out, "\uFFFD")
	}
	return out
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

// scanChunk appends the tokens of the chunk s[base:end] (no spaces, no
// delimiters).
func scanChunk(t []tok, s string, base, end int) []tok {
	c := s[base:end]
	text := func(p, q int) tok { return tok{a: int32(base + p), b: int32(base + q)} }
	p := 0
	for p < len(c) {
		b := c[p]
		atBoundary := p == 0 || !isAlnum(c[p-1])
		if (b == '-' || b == '+') && atBoundary && p+1 < len(c) && isDigit(c[p+1]) {
			if k, n := scanAtom(c[p+1:]); k == kNum || k == kID {
				t = append(t, tok{k: idOrNum(k, c[:p], c[p+1:p+1+n])})
				p += 1 + n
				continue
			}
		}
		if b == ':' && p+1 < len(c) && c[p+1] == ':' {
			if n := ipv6Len(c[p:]); n > 0 {
				t = append(t, tok{k: kIP})
				p += n
				continue
			}
		}
		if !isAlnum(b) {
			q := p + 1
			for q < len(c) && !isAlnum(c[q]) && !(c[q] == '-' || c[q] == '+') {
				q++
			}
			t = append(t, text(p, q))
			p = q
			continue
		}
		if k, n := scanAtom(c[p:]); k != kText {
			t = append(t, tok{k: idOrNum(k, c[:p], c[p:p+n])})
			p += n
			continue
		}
		// A plain word: keep its letters, mask its digit runs.
		q := p + alnumLen(c[p:])
		for p < q {
			r := p
			if isDigit(c[p]) {
				for r < q && isDigit(c[r]) {
					r++
				}
				t = append(t, tok{k: kWordNum})
			} else {
				for r < q && !isDigit(c[r]) {
					r++
				}
				t = append(t, text(p, r))
			}
			p = r
		}
	}
	return t
}

// idOrNum turns a number of 9+ digits glued by "_" to a word (blk_-6991853982611346454,
// attempt_1445144423722) into an id: such numbers name things, they are not
// quantities. before is the chunk text before the number (and its sign).
func idOrNum(k kind, before, num string) kind {
	if k != kNum || len(num) < 9 || !allDigits(num) {
		return k
	}
	before = strings.TrimSuffix(before, "-")
	if n := len(before); n >= 2 && before[n-1] == '_' && isLetter(before[n-2]) {
		return kID
	}
	return k
}

// scanAtom classifies the atom at the start of c (c[0] is alphanumeric) and
// returns its kind and length, or kText when it is a plain word.
func scanAtom(c string) (kind, int) {
	run := alnumLen(c)
	if n := uuidLen(c); n > 0 {
		return kID, n
	}
	if run > 2 && c[0] == '0' && (c[1] == 'x' || c[1] == 'X') && allHex(c[2:run]) {
		return kHex, run
	}
	if n := hostLen(c); n > 0 {
		return kHost, n
	}
	if isDigit(c[0]) {
		if n := ipv4Len(c); n > 0 {
			return kIP, n
		}
		if n := dateTimeLen(c); n > 0 {
			return kTS, n
		}
	}
	if n := ipv6Len(c); n > 0 {
		return kIP, n
	}
	if run >= 6 && allHex(c[:run]) && hasDigit(c[:run]) && !allDigits(c[:run]) {
		return kHex, run
	}
	if isDigit(c[0]) {
		if n := durLen(c); n > 0 {
			return kDur, n
		}
		n, _, _ := numLen(c)
		if n == len(c) || !isAlnum(c[n]) {
			return kNum, n
		}
		if u := alnumLen(c[n:]); u > 0 {
			if unit := c[n : n+u]; allLetters(unit) && isSizeUnit(unit) {
				return kSize, n + u
			}
		}
	}
	if run >= 16 && hasDigit(c[:run]) {
		return kID, run
	}
	return kText, 0
}

// durLen matches a duration as Go's time.Duration and most loggers print it:
// one or more number+unit parts (12ms, 3.5s, 850µs, 1m30.5s, 2h0m0s). The
// micro sign may be U+00B5 (Go's) or U+03BC. Before normalize/v2 "850µs" was
// left as "<NUM>µs", so a release that logged the same event in µs instead of
// ms (NATS v2.14.0's "fast producer stall (850µs)" against v2.8.4's "(12.5ms)")
// wrote a template the older release never had.
func durLen(c string) int {
	p := 0
	for p < len(c) && isDigit(c[p]) {
		n, _, _ := numLen(c[p:])
		u := unitLen(c[p+n:])
		if u == 0 {
			break
		}
		p += n + u
	}
	if p == 0 || !boundary(c, p) {
		return 0
	}
	return p
}

// unitLen is the length of the duration unit at the start of c, or 0.
func unitLen(c string) int {
	for _, mu := range [...]string{"\u00b5s", "\u03bcs"} {
		if strings.HasPrefix(c, mu) {
			return len(mu)
		}
	}
	u := 0
	for u < len(c) && isLetter(c[u]) {
		u++
	}
	if u == 0 || !isDurUnit(c[:u]) {
		return 0
	}
	return u
}

// classifyChunk recognises whole-chunk entities: e-mail addresses and paths.
// pre is verbatim text to emit before the placeholder ("/" for "/10.0.0.1:80").
func classifyChunk(c string) (k kind, pre string) {
	if len(c) < 2 {
		return kText, ""
	}
	if isEmail(c) {
		return kEmail, ""
	}
	switch {
	case c[0] == '/':
		if n := ipv4Len(c[1:]); n > 0 && n == len(c)-1 {
			return kIP, "/"
		}
		if c[1] != '/' {
			return kPath, ""
		}
	case c[0] == '~' && c[1] == '/',
		c[0] == '.' && c[1] == '/',
		strings.HasPrefix(c, "../"),
		strings.HasPrefix(c, `\\`),
		len(c) > 2 && isLetter(c[0]) && c[1] == ':' && c[2] == '\\':
		return kPath, ""
	}
	if !isDigit(c[0]) && hasLetter(c) && (strings.Count(c, "/") >= 2 || strings.Count(c, `\`) >= 2) && !strings.Contains(c, "//") {
		return kPath, ""
	}
	return kText, ""
}

// quotedFields makes quoted values robust to two changes real releases make
// (issue 11, measured on the NATS corpus, scripts/corpus/README.md):
//
//   - A quoted value without spaces standing alone as a field between " - " or
//     " | " separators is dropped with one separator: "A - "v1.37.0:go" - B"
//     becomes "A - B". Such fields are per-connection context (client version,
//     account/user) that releases add to or remove from every line of a
//     connection: NATS v2.8.4 writes `- cid:N - "v1.37.0:go" - <<- [PING]`,
//     v2.10.7 `- cid:N - <<- [PING]`, v2.14.0 `- cid:N - "v1.37.0:go" -
//     "$G/user:bob" - <<- [PING]`; before normalize/v2 nearly every normalised
//     NATS line was new in every upgrade. A quoted value after a word (`User
//     "bob"`) or inside JSON is data of the message and stays.
//   - A value in single quotes is written with double quotes ('app.x' ->
//     "app.x"), as releases change the quoting of one message (NATS
//     `Parse Error: 'app.x'` became `Parse Error: "app.x"`). Only a quote at
//     a word boundary with a closing quote before the next space counts, so an
//     apostrophe (don't, Jan's) stays.
func quotedFields(t []tok, s string) []tok {
	is := func(x tok, v string) bool { return x.k == kText && s[x.a:x.b] == v }
	isSep := func(x tok) bool { return is(x, "-") || is(x, "|") }
	out := t[:0]
	for i := 0; i < len(t); i++ {
		if !is(t[i], `"`) && !is(t[i], "'") {
			out = append(out, t[i])
			continue
		}
		q := s[t[i].a:t[i].b]
		j := i + 1 // the closing quote, with no space in between
		for j < len(t) && t[j].k != kSpace && !is(t[j], q) {
			j++
		}
		if j == len(t) || !is(t[j], q) {
			out = append(out, t[i])
			continue
		}
		// A stand-alone field: "SEP " before it (already written), " SEP " after.
		if n := len(out); n >= 2 && out[n-1].k == kSpace && isSep(out[n-2]) &&
			j+3 < len(t) && t[j+1].k == kSpace && isSep(t[j+2]) && t[j+3].k == kSpace {
			i = j + 3 // drop the field and " SEP "; "SEP " stays
			continue
		}
		if q == "'" {
			before := i == 0 || t[i-1].k == kSpace || (t[i-1].k == kText && isDelim(s[t[i-1].b-1]))
			after := j+1 == len(t) || t[j+1].k == kSpace || (t[j+1].k == kText && (isDelim(s[t[j+1].a]) || isTrailing(s[t[j+1].a])))
			if before && after {
				out = append(out, tok{k: kQuote})
				out = append(out, t[i+1:j]...)
				out = append(out, tok{k: kQuote})
				i = j
				continue
			}
		}
		out = append(out, t[i])
	}
	return out
}

// mergeTimes folds a run of time-like tokens (dates, times, numbers, month and
// day names) joined by single separators into one <TS>, when the run holds at
// least one date or time.
func mergeTimes(t []tok, s string) []tok {
	out := t[:0]
	for i := 0; i < len(t); i++ {
		if t[i].k != kTS {
			out = append(out, t[i])
			continue
		}
		// Extend left over what was already emitted.
		j := len(out)
		for {
			if j >= 1 && timeish(out[j-1], s) {
				j--
			} else if j >= 2 && isTimeSep(out[j-1], s) && timeish(out[j-2], s) {
				j -= 2
			} else {
				break
			}
		}
		out = append(out[:j], tok{k: kTS})
		// Extend right.
		for i+1 < len(t) {
			if timeish(t[i+1], s) {
				i++
			} else if i+2 < len(t) && isTimeSep(t[i+1], s) && timeish(t[i+2], s) {
				i += 2
			} else {
				break
			}
		}
	}
	return out
}

// mergeUnits folds "<NUM> unit" (with one space) into <SIZE> or <DUR>.
func mergeUnits(t []tok, s string) []tok {
	out := t[:0]
	for i := 0; i < len(t); i++ {
		if t[i].k == kNum && i+2 < len(t) && t[i+1].k == kSpace && t[i+2].k == kText &&
			(i+3 == len(t) || t[i+3].k != kNum) {
			if u := s[t[i+2].a:t[i+2].b]; isSizeWord(u) {
				out = append(out, tok{k: kSize})
				i += 2
				continue
			} else if isDurWord(u) {
				out = append(out, tok{k: kDur})
				i += 2
				continue
			}
		}
		out = append(out, t[i])
	}
	return out
}

func timeish(x tok, s string) bool {
	return x.k == kTS || x.k == kNum || (x.k == kText && isMonthOrDay(s[x.a:x.b]))
}

func isTimeSep(x tok, s string) bool {
	if x.k == kSpace {
		return true
	}
	if x.k != kText || x.b-x.a != 1 {
		return false
	}
	c := s[x.a]
	return c == '-' || c == '/' || c == ':' || c == ',' || c == '.'
}

// ---- atom recognisers: each returns the length of the match at the start of
// its argument, or 0; a match always ends at a non-alphanumeric byte or the end.

func boundary(c string, n int) bool { return n == len(c) || !isAlnum(c[n]) }

func digitsLen(c string, lo, hi int) int {
	n := 0
	for n < len(c) && n < hi && isDigit(c[n]) {
		n++
	}
	if n < lo || (n < len(c) && isDigit(c[n])) {
		return 0
	}
	return n
}

func ipv4Len(c string) int {
	p := 0
	for g := 0; g < 4; g++ {
		if g > 0 {
			if p >= len(c) || c[p] != '.' {
				return 0
			}
			p++
		}
		n := digitsLen(c[p:], 1, 3)
		if n == 0 {
			return 0
		}
		v := 0
		for _, d := range c[p : p+n] {
			v = v*10 + int(d-'0')
		}
		if v > 255 {
			return 0
		}
		p += n
	}
	if p < len(c) && (c[p] == ':' || c[p] == '/') {
		if n := digitsLen(c[p+1:], 1, 5); n > 0 {
			p += 1 + n
		}
	}
	if p < len(c) && (isAlnum(c[p]) || (c[p] == '.' && p+1 < len(c) && isDigit(c[p+1]))) {
		return 0
	}
	return p
}

func ipv6Len(c string) int {
	p, colons, groupLen, hexDigits := 0, 0, 0, 0
	double := false
	for p < len(c) {
		switch b := c[p]; {
		case b == ':':
			if p > 0 && c[p-1] == ':' {
				if double {
					return 0
				}
				double = true
			}
			colons++
			groupLen = 0
		case isHexDigit(b):
			groupLen++
			hexDigits++
			if groupLen > 4 {
				return 0
			}
		default:
			goto done
		}
		p++
	}
done:
	if hexDigits == 0 || colons < 2 || colons > 7 || (!double && colons != 7) || !boundary(c, p) || c[p-1] == ':' && !double {
		return 0
	}
	return p
}

// hostLen matches label(.label)+ with a last label that is a common top-level
// domain (lower case), and an optional :port. A list, rather than "any dotted
// name", keeps Java packages and class names (org.apache.hadoop.Foo) as words.
func hostLen(c string) int {
	p, labels, last := 0, 0, 0
	for {
		q := p
		for q < len(c) && (isAlnum(c[q]) || c[q] == '-') {
			q++
		}
		if q == p {
			return 0
		}
		labels++
		last = p
		p = q
		if p+1 < len(c) && c[p] == '.' && isAlnum(c[p+1]) {
			p++
			continue
		}
		break
	}
	if labels < 2 || !isTLD(c[last:p]) {
		return 0
	}
	if p < len(c) && c[p] == ':' {
		if n := digitsLen(c[p+1:], 1, 5); n > 0 {
			p += 1 + n
		}
	}
	if !boundary(c, p) {
		return 0
	}
	return p
}

func isTLD(s string) bool {
	switch s {
	case "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "us", "uk", "de", "fr", "nl",
		"jp", "cn", "hk", "tw", "br", "ru", "pl", "it", "es", "ca", "au", "in", "kr", "mx", "eu", "om", "ch", "se",
		"local", "lan", "internal", "localdomain", "arpa":
		return true
	}
	return false
}

func uuidLen(c string) int {
	if len(c) < 36 {
		return 0
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if c[i] != '-' {
				return 0
			}
		default:
			if !isHexDigit(c[i]) {
				return 0
			}
		}
	}
	if !boundary(c, 36) {
		return 0
	}
	return 36
}

// timeLen matches h:m[:s][(.|,|:)frac] with 1-2 digit fields.
func timeLen(c string) int {
	p := digitsLen(c, 1, 2)
	if p == 0 || p >= len(c) || c[p] != ':' {
		return 0
	}
	n := digitsLen(c[p+1:], 1, 2)
	if n == 0 {
		return 0
	}
	p += 1 + n
	if p < len(c) && c[p] == ':' {
		if n := digitsLen(c[p+1:], 1, 2); n > 0 {
			p += 1 + n
		}
	}
	if p < len(c) && (c[p] == '.' || c[p] == ',' || c[p] == ':') {
		if n := digitsLen(c[p+1:], 1, 9); n > 0 {
			p += 1 + n
		}
	}
	return p
}

// dateTimeLen matches a date (yyyy-mm-dd, yyyy.mm.dd, yyyy/mm/dd, dd/mm/yy,
// mm-dd-yyyy, yyyymmdd-time) with an optional glued time, or a bare time.
func dateTimeLen(c string) int {
	p := 0
	if n := digitsLen(c, 4, 4); n > 0 && n+1 < len(c) && (c[n] == '-' || c[n] == '.' || c[n] == '/') {
		sep := c[n]
		if m := digitsLen(c[n+1:], 1, 2); m > 0 && n+1+m < len(c) && c[n+1+m] == sep {
			if d := digitsLen(c[n+2+m:], 1, 2); d > 0 {
				p = n + 2 + m + d
			}
		}
	}
	if p == 0 {
		if n := digitsLen(c, 1, 2); n > 0 && n+1 < len(c) && (c[n] == '-' || c[n] == '/') {
			sep := c[n]
			if m := digitsLen(c[n+1:], 1, 2); m > 0 && n+1+m < len(c) && c[n+1+m] == sep {
				if y := digitsLen(c[n+2+m:], 2, 4); y > 0 {
					p = n + 2 + m + y
				}
			}
		}
	}
	if p == 0 {
		if n := digitsLen(c, 8, 8); n > 0 && n+1 < len(c) && (c[n] == '-' || c[n] == 'T' || c[n] == '_') {
			if tl := timeLen(c[n+1:]); tl > 0 && boundary(c, n+1+tl) {
				return n + 1 + tl
			}
		}
	}
	if p == 0 {
		if tl := timeLen(c); tl > 0 && boundary(c, tl) {
			return tl
		}
		return 0
	}
	// A time glued to the date: 2017-05-16T13:53:08, 2005-06-03-15.42.50.675872.
	if p+1 < len(c) && (c[p] == 'T' || c[p] == '-' || c[p] == '_' || c[p] == ':') {
		q := p + 1
		if tl := timeLen(c[q:]); tl > 0 {
			if q+tl < len(c) && c[q+tl] == 'Z' { // ISO 8601 UTC
				tl++
			}
			if boundary(c, q+tl) {
				return q + tl
			}
		}
		if tl := dottedTimeLen(c[q:]); tl > 0 {
			return q + tl
		}
	}
	if !boundary(c, p) {
		return 0
	}
	// A zone suffix like Z is left as text.
	return p
}

// dottedTimeLen matches hh.mm.ss[.frac] (BGL).
func dottedTimeLen(c string) int {
	p := 0
	for g := 0; g < 3; g++ {
		if g > 0 {
			if p >= len(c) || c[p] != '.' {
				return 0
			}
			p++
		}
		n := digitsLen(c[p:], 2, 2)
		if n == 0 {
			return 0
		}
		p += n
	}
	if p < len(c) && c[p] == '.' {
		if n := digitsLen(c[p+1:], 1, 9); n > 0 {
			p += 1 + n
		}
	}
	if !boundary(c, p) {
		return 0
	}
	return p
}

// numLen matches digits(.digits)*; it reports the dots and digits seen.
func numLen(c string) (n, dots, digits int) {
	for n < len(c) {
		if isDigit(c[n]) {
			digits++
			n++
			continue
		}
		if c[n] == '.' && n+1 < len(c) && isDigit(c[n+1]) && n > 0 {
			dots++
			n++
			continue
		}
		break
	}
	return n, dots, digits
}

func urlLen(c string) int {
	p := 0
	for p < len(c) && p < 16 && (isAlnum(c[p]) || c[p] == '+' || c[p] == '.' || c[p] == '-') {
		p++
	}
	if p == 0 || !isLetter(c[0]) || !strings.HasPrefix(c[p:], "://") {
		return 0
	}
	p += 3
	for p < len(c) && !isSpace(c[p]) && c[p] != '"' && c[p] != '\'' && c[p] != '<' && c[p] != '>' && c[p] != ')' && c[p] != ']' && c[p] != '}' {
		p++
	}
	for p > 0 && isTrailing(c[p-1]) {
		p--
	}
	return p
}

func isEmail(c string) bool {
	at := strings.IndexByte(c, '@')
	if at <= 0 || strings.IndexByte(c[at+1:], '@') >= 0 {
		return false
	}
	for i := 0; i < at; i++ {
		b := c[i]
		if !isAlnum(b) && b != '.' && b != '_' && b != '%' && b != '+' && b != '-' {
			return false
		}
	}
	dom := c[at+1:]
	dot := strings.LastIndexByte(dom, '.')
	if dot <= 0 || len(dom)-dot-1 < 2 || !allLetters(dom[dot+1:]) {
		return false
	}
	for i := 0; i < len(dom); i++ {
		if b := dom[i]; !isAlnum(b) && b != '.' && b != '-' {
			return false
		}
	}
	return true
}

// ---- unit and name tables (switches compile to comparisons, no maps).

func isDurUnit(u string) bool {
	switch u {
	case "ns", "us", "ms", "s", "sec", "secs", "m", "min", "mins", "h", "hr", "hrs", "d":
		return true
	}
	return false
}

func isSizeUnit(u string) bool {
	switch u {
	case "B", "KB", "kB", "kb", "K", "k", "KiB", "MB", "mb", "M", "MiB", "GB", "gb", "G", "GiB", "TB", "T", "TiB":
		return true
	}
	return false
}

func isDurWord(u string) bool {
	switch u {
	case "ns", "us", "ms", "msec", "msecs", "millis", "milliseconds", "millisecond", "microseconds", "nanoseconds",
		"s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "hour", "hours":
		return true
	}
	return false
}

func isSizeWord(u string) bool {
	switch u {
	case "B", "KB", "kB", "KiB", "MB", "MiB", "GB", "GiB", "TB", "TiB", "byte", "bytes", "Bytes":
		return true
	}
	return false
}

func isMonthOrDay(w string) bool {
	switch w {
	case "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
		"January", "February", "March", "April", "June", "July", "August", "September", "October", "November", "December",
		"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
		"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
		"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
		"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN", "AM", "PM", "UTC", "GMT", "Z":
		return true
	}
	return false
}

// ---- byte classes (ASCII only: bytes >= 0x80 are ordinary text).

func isSpace(b byte) bool { return b <= ' ' || b == 0x7f }

func isDelim(b byte) bool {
	switch b {
	case '=', ',', ';', '"', '\'', '(', ')', '[', ']', '{', '}', '<', '>', '|':
		return true
	}
	return false
}

func isTrailing(b byte) bool { return b == '.' || b == ':' || b == '!' || b == '?' }
func isDigit(b byte) bool    { return b >= '0' && b <= '9' }
func isLetter(b byte) bool   { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }
func isAlnum(b byte) bool    { return isDigit(b) || isLetter(b) }
func isHexDigit(b byte) bool { return isDigit(b) || ((b|0x20) >= 'a' && (b|0x20) <= 'f') }

func alnumLen(c string) int {
	n := 0
	for n < len(c) && isAlnum(c[n]) {
		n++
	}
	return n
}

func allHex(c string) bool {
	if c == "" {
		return false
	}
	lower, upper := false, false
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !isHexDigit(b) {
			return false
		}
		if b >= 'a' {
			lower = true
		} else if b >= 'A' {
			upper = true
		}
	}
	return !(lower && upper) // mixed case is a word (DeadBeef), not a hex id
}

func allDigits(c string) bool {
	for i := 0; i < len(c); i++ {
		if !isDigit(c[i]) {
			return false
		}
	}
	return true
}

func allLetters(c string) bool {
	for i := 0; i < len(c); i++ {
		if !isLetter(c[i]) {
			return false
		}
	}
	return c != ""
}

func hasDigit(c string) bool {
	for i := 0; i < len(c); i++ {
		if isDigit(c[i]) {
			return true
		}
	}
	return false
}

func hasLetter(c string) bool {
	for i := 0; i < len(c); i++ {
		if isLetter(c[i]) {
			return true
		}
	}
	return false
}
