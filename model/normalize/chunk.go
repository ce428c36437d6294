package normalize

import "strings"

// Cutting one chunk (the text between spaces and delimiters) into tokens:
// Line's first pass.

// scanChunk appends the tokens of the chunk s[base:end] (no spaces, no
// delimiters).
func scanChunk(t []tok, s string, base, end int) []tok {
	c := s[base:end]
	text := func(p, q int) tok { return tok{a: int32(base + p), b: int32(base + q)} }
	first := len(t) // the chunk's first token
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
		if len(t) > first && (t[len(t)-1].k == kID || t[len(t)-1].k == kHex) {
			if n := idSuffixLen(c[p:]); n > 0 {
				p += n // part of the id before it
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

// idSuffixLen is the length of a random-looking suffix at the start of c, or
// 0: a separator (. - _ :) and an alphanumeric run of 4 to 15 characters that
// mixes letters and digits, or lower case with two capitals after its first
// letter (ulvoDDZ2, MRG00YBc, x2k9p). After an id it is part of that id: NATS
// reply subjects are _INBOX.<nuid>.<8 random characters>, Kubernetes pod names
// <name>-<hash>-<5 random characters>; unmasked, every request of a session
// wrote a line no other session had.
func idSuffixLen(c string) int {
	if len(c) < 5 || (c[0] != '.' && c[0] != '-' && c[0] != '_' && c[0] != ':') {
		return 0
	}
	run := alnumLen(c[1:])
	if run < 4 || run > 15 {
		return 0
	}
	w := c[1 : 1+run]
	digits, letters, lower, innerCaps := 0, 0, 0, 0
	for i := 0; i < len(w); i++ {
		switch b := w[i]; {
		case isDigit(b):
			digits++
		case b >= 'A' && b <= 'Z':
			letters++
			if i > 0 {
				innerCaps++
			}
		default:
			letters++
			lower++
		}
	}
	if (digits > 0 && letters > 0) || (innerCaps >= 2 && lower > 0) {
		return 1 + run
	}
	return 0
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
	run, cls := alnumRun(c)
	if cls&cDigit == 0 && (run == len(c) || c[run] != '.' && c[run] != '-' && c[run] != ':') {
		// Letters alone, not glued to a host's next label, a UUID's next
		// group or an IPv6 address's next group: no recogniser below
		// matches (each needs a digit, or that separator).
		return kText, 0
	}
	if cls&cLetter == 0 && run == len(c) {
		// Digits alone to the end: every recogniser below but the number
		// needs a separator or a letter.
		return kNum, run
	}
	if n := uuidLen(c); n > 0 {
		return kID, n
	}
	if run > 2 && c[0] == '0' && (c[1] == 'x' || c[1] == 'X') && allHex(c[2:run]) {
		return kHex, run
	}
	if run < len(c) && (c[run] == '.' || c[run] == '-') { // a host has a dot after its first label
		if n := hostLen(c); n > 0 {
			return kHost, n
		}
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
