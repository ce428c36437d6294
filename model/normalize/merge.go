package normalize

import "slices"

// The passes over Line's tokens after the scan: quoted fields, timestamps
// and numbers with unit words.

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
	first := slices.IndexFunc(t, func(x tok) bool { return x.k == kTS })
	if first < 0 {
		return t // nothing to merge: no copy
	}
	out := t[:first]
	for i := first; i < len(t); i++ {
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
	first := -1
	for i := range t {
		if t[i].k == kNum && unitAt(t, i, s) != kText {
			first = i
			break
		}
	}
	if first < 0 {
		return t // nothing to merge: no copy
	}
	out := t[:first]
	for i := first; i < len(t); i++ {
		if k := unitAt(t, i, s); k != kText {
			out = append(out, tok{k: k})
			i += 2
			continue
		}
		out = append(out, t[i])
	}
	return out
}

// unitAt is kSize or kDur when t[i:i+3] is "<NUM> unit" not followed by a
// number, else kText.
func unitAt(t []tok, i int, s string) kind {
	if t[i].k == kNum && i+2 < len(t) && t[i+1].k == kSpace && t[i+2].k == kText &&
		(i+3 == len(t) || t[i+3].k != kNum) {
		if u := s[t[i+2].a:t[i+2].b]; isSizeWord(u) {
			return kSize
		} else if isDurWord(u) {
			return kDur
		}
	}
	return kText
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
