package normalize

// Word tables and byte classes.

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

// ---- byte classes (ASCII only: bytes >= 0x80 are ordinary text). One table
// lookup each: they run on every byte of every line, and the chunk scan's
// comparison chains took a tenth of Line's time on HDFS lines.

const (
	cSpace = 1 << iota // whitespace and control characters
	cDelim             // = , ; " ' ( ) [ ] { } < > |
	cDigit
	cLetter
	cHex    // hex digit
	cEntity // @ / \ : a chunk without one is no e-mail address or path (classifyChunk)
	cColon  // : a chunk without one starts no URL (urlLen)
)

var byteClass = func() (t [256]uint8) {
	for b := 0; b < 256; b++ {
		c := byte(b)
		if c <= ' ' || c == 0x7f {
			t[b] |= cSpace
		}
		switch c {
		case '=', ',', ';', '"', '\'', '(', ')', '[', ']', '{', '}', '<', '>', '|':
			t[b] |= cDelim
		}
		if c == '@' || c == '/' || c == '\\' {
			t[b] |= cEntity
		}
		if c == ':' {
			t[b] |= cColon
		}
		if c >= '0' && c <= '9' {
			t[b] |= cDigit | cHex
		}
		if l := c | 0x20; l >= 'a' && l <= 'z' {
			t[b] |= cLetter
			if l <= 'f' {
				t[b] |= cHex
			}
		}
	}
	return t
}()

func isSpace(b byte) bool        { return byteClass[b]&cSpace != 0 }
func isDelim(b byte) bool        { return byteClass[b]&cDelim != 0 }
func isSpaceOrDelim(b byte) bool { return byteClass[b]&(cSpace|cDelim) != 0 }
func isTrailing(b byte) bool     { return b == '.' || b == ':' || b == '!' || b == '?' }
func isDigit(b byte) bool        { return byteClass[b]&cDigit != 0 }
func isLetter(b byte) bool       { return byteClass[b]&cLetter != 0 }
func isAlnum(b byte) bool        { return byteClass[b]&(cDigit|cLetter) != 0 }
func isHexDigit(b byte) bool     { return byteClass[b]&cHex != 0 }

func alnumLen(c string) int {
	n, _ := alnumRun(c)
	return n
}

// alnumRun is the length of the alphanumeric run at the start of c and its
// byte classes (cDigit, cLetter).
func alnumRun(c string) (n int, cls uint8) {
	for n < len(c) {
		x := byteClass[c[n]]
		if x&(cDigit|cLetter) == 0 {
			break
		}
		cls |= x
		n++
	}
	return n, cls
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
