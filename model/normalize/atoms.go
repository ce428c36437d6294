package normalize

// Atom recognisers for numbers, UUIDs, dates and times (addresses are in
// address.go): each returns the length of the match at the start of its
// argument, or 0; a match always ends at a non-alphanumeric byte or the end.

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
