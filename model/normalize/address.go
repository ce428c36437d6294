package normalize

import "strings"

// Address recognisers (IPv4, IPv6, host names, URLs, e-mail addresses): like
// the atom recognisers of atoms.go, each returns the length of the match at
// the start of its argument, or 0 (isEmail: whether the whole chunk is one).

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
