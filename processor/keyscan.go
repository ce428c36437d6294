package processor

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// keyScan finds the session key of a body_regex without the regexp engine,
// for the shape key regexes usually have (`blk_-?\d+`, `- cid:(\d+) -`,
// `"remote_port":"?(\d+)`): a sequence of items, each a rune or a character
// class repeated between min and max times (greedy), with at most one
// capture group around a stretch of them. The regexp engine costs about
// 300 ns per HDFS line even when anchored at the match, a tenth of what
// coorlog adds per record; this scan costs the strings.Index of the
// pattern's literal prefix and one pass over the match.
//
// A greedy scan that never gives back finds what leftmost-first
// backtracking finds when no item could use what a variable item before it
// gives back: newKeyScan only accepts a pattern in which the class of every
// item with min < max is disjoint from the classes of the items after it, up
// to and including the next item with min >= 1. Anything else (alternation,
// assertions, case folding, non-greedy repeats, more than one group) keeps
// the regexp engine. FuzzKeyScan holds the two to the same answers.
type keyScan struct {
	items  []scanItem
	prefix string // the literal runes the pattern starts with
	skip   int    // items the prefix covers
	group  [2]int // items[group[0]:group[1]] are the capture group; {-1, -1} without one
	// inPrefix[b] is the byte offset in prefix of group boundary b when
	// it lies within the prefix, else -1.
	inPrefix [2]int
}

// scanItem is a character class (sorted, non-overlapping lo-hi pairs, as
// regexp/syntax writes them) matched between min and max times; max < 0 is
// no limit.
type scanItem struct {
	ranges   []rune
	min, max int
}

// newKeyScan compiles expr (Perl syntax, as regexp.Compile reads it) into a
// keyScan, or returns nil when the pattern is not of the shape it matches
// exactly.
func newKeyScan(expr string) *keyScan {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	k := &keyScan{group: [2]int{-1, -1}}
	if !k.add(re, true) || !k.greedyIsExact() {
		return nil
	}
	k.inPrefix = [2]int{-1, -1}
	for i := 0; ; i++ {
		for b, at := range k.group {
			if at == i {
				k.inPrefix[b] = len(k.prefix)
			}
		}
		if i == len(k.items) {
			break
		}
		it := k.items[i]
		// An invalid byte reads as utf8.RuneError, which strings.Index
		// would not find as U+FFFD: such a rune ends the prefix.
		if it.min != 1 || it.max != 1 || len(it.ranges) != 2 || it.ranges[0] != it.ranges[1] || it.ranges[0] == utf8.RuneError {
			break
		}
		k.prefix += string(it.ranges[0])
		k.skip++
	}
	return k
}

// add appends re's items; top is true outside the capture group.
func (k *keyScan) add(re *syntax.Regexp, top bool) bool {
	switch re.Op {
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !k.add(sub, top) {
				return false
			}
		}
		return true
	case syntax.OpCapture:
		if !top || k.group[0] >= 0 || re.Cap != 1 {
			return false
		}
		k.group[0] = len(k.items)
		if !k.add(re.Sub[0], false) {
			return false
		}
		k.group[1] = len(k.items)
		return true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		for _, r := range re.Rune {
			k.items = append(k.items, scanItem{ranges: []rune{r, r}, min: 1, max: 1})
		}
		return true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		if re.Flags&syntax.NonGreedy != 0 {
			return false
		}
		ranges, ok := oneRune(re.Sub[0])
		if !ok {
			return false
		}
		it := scanItem{ranges: ranges}
		switch re.Op {
		case syntax.OpStar:
			it.min, it.max = 0, -1
		case syntax.OpPlus:
			it.min, it.max = 1, -1
		case syntax.OpQuest:
			it.min, it.max = 0, 1
		default:
			it.min, it.max = re.Min, re.Max
		}
		k.items = append(k.items, it)
		return true
	}
	ranges, ok := oneRune(re)
	if ok {
		k.items = append(k.items, scanItem{ranges: ranges, min: 1, max: 1})
	}
	return ok
}

// oneRune is the class of a pattern that matches exactly one rune.
func oneRune(re *syntax.Regexp) ([]rune, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 1 && re.Flags&syntax.FoldCase == 0 {
			return []rune{re.Rune[0], re.Rune[0]}, true
		}
	case syntax.OpCharClass:
		return re.Rune, len(re.Rune) > 0
	case syntax.OpAnyCharNotNL:
		return []rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune}, true
	case syntax.OpAnyChar:
		return []rune{0, utf8.MaxRune}, true
	}
	return nil, false
}

// greedyIsExact is the condition in keyScan's comment.
func (k *keyScan) greedyIsExact() bool {
	if len(k.items) == 0 {
		return false
	}
	for i, it := range k.items {
		if it.min == it.max {
			continue
		}
		for _, next := range k.items[i+1:] {
			if overlap(it.ranges, next.ranges) {
				return false
			}
			if next.min >= 1 {
				break
			}
		}
	}
	return true
}

func overlap(a, b []rune) bool {
	for i := 0; i < len(a); i += 2 {
		for j := 0; j < len(b); j += 2 {
			if a[i] <= b[j+1] && b[j] <= a[i+1] {
				return true
			}
		}
	}
	return false
}

func (it *scanItem) has(r rune) bool {
	for i := 0; i < len(it.ranges); i += 2 {
		if r < it.ranges[i] {
			return false
		}
		if r <= it.ranges[i+1] {
			return true
		}
	}
	return false
}

// find returns the leftmost match in s as regexp's FindStringSubmatchIndex
// would: the span of the capture group when the pattern has one and it
// took part, else of the whole match.
func (k *keyScan) find(s string) (lo, hi int, ok bool) {
	for start := 0; start <= len(s); {
		at := start
		if k.prefix != "" {
			i := strings.Index(s[start:], k.prefix)
			if i < 0 {
				return 0, 0, false
			}
			at = start + i
		}
		if lo, hi, ok := k.matchAt(s, at); ok {
			return lo, hi, true
		}
		if at == len(s) {
			return 0, 0, false
		}
		_, w := utf8.DecodeRuneInString(s[at:])
		start = at + w
	}
	return 0, 0, false
}

// matchAt matches the items greedily from s[at:], where the prefix is.
func (k *keyScan) matchAt(s string, at int) (lo, hi int, ok bool) {
	var bound [2]int
	for b, off := range k.inPrefix {
		bound[b] = at + off
	}
	pos := at + len(k.prefix)
	for i := k.skip; ; i++ {
		for b, g := range k.group {
			if g == i && k.inPrefix[b] < 0 {
				bound[b] = pos
			}
		}
		if i == len(k.items) {
			break
		}
		it := &k.items[i]
		n := 0
		for (it.max < 0 || n < it.max) && pos < len(s) {
			r, w := utf8.DecodeRuneInString(s[pos:])
			if !it.has(r) {
				break
			}
			pos += w
			n++
		}
		if n < it.min {
			return 0, 0, false
		}
	}
	if k.group[0] < 0 {
		return at, pos, true
	}
	return bound[0], bound[1], true
}
