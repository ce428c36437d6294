package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Sequence evolution (see evolve.go): one state-preserving change of a
// session's event sequence.

// insertedTemplate marks inserted lines: no rewrite table entry matches it.
const insertedTemplate = "\x00inserted"

// sequenceChange applies one state-preserving change to the session. Inserted
// lines get insertedTemplate so that no entry rewrite touches them.
func sequenceChange(rng *rand.Rand, id string, lines, ts *[]string, optional map[string]bool, adjacent map[[2]string]bool) (string, bool) {
	var drops []string
	for _, t := range *ts {
		if optional[t] && !slices.Contains(drops, t) {
			drops = append(drops, t)
		}
	}
	var swaps []int
	for j := 1; j < len(*ts); j++ {
		a, b := (*ts)[j-1], (*ts)[j]
		if a != b && adjacent[[2]string{a, b}] && adjacent[[2]string{b, a}] {
			swaps = append(swaps, j)
		}
	}
	ops := []string{"insert"}
	if len(drops) > 0 {
		// Keep at least one line: a session is never emptied.
		ops = append(ops, "drop")
	}
	if len(swaps) > 0 {
		ops = append(ops, "swap")
	}
	op := ops[rng.IntN(len(ops))]
	switch op {
	case "drop":
		t := drops[rng.IntN(len(drops))]
		var nl, nt []string
		for j := range *lines {
			if (*ts)[j] != t {
				nl, nt = append(nl, (*lines)[j]), append(nt, (*ts)[j])
			}
		}
		if len(nl) == 0 {
			return "", false
		}
		*lines, *ts = nl, nt
	case "swap":
		j := swaps[rng.IntN(len(swaps))]
		(*lines)[j-1], (*lines)[j] = swapEvents((*lines)[j-1], (*lines)[j])
		(*ts)[j-1], (*ts)[j] = (*ts)[j], (*ts)[j-1]
	case "insert":
		pos := 1 + rng.IntN(len(*lines)) // after at least one line
		ref := (*lines)[pos-1]
		nl := newNormalEvent(rng, ref, id)
		*lines = slices.Insert(*lines, pos, nl)
		*ts = slices.Insert(*ts, pos, insertedTemplate)
	}
	return op, true
}

// swapEvents returns b, a with their leading timestamps exchanged, so that
// the time stays in order: the events swap, the clock does not. The
// timestamp is the leading run of tokens made only of digits and . : / - ,
// (date, time, pid in "081109 203615 148 INFO ..."), exchanged only when
// both lines have the same number of such tokens.
func swapEvents(a, b string) (string, string) {
	pa, ra := clockPrefix(a)
	pb, rb := clockPrefix(b)
	if pa == 0 || pa != pb {
		return b, a
	}
	return a[:ra] + b[rb:], b[:rb] + a[ra:]
}

// clockPrefix counts the leading clock-like tokens of l and returns the
// byte length they cover.
func clockPrefix(l string) (tokens, end int) {
	pos := 0
	for {
		start := pos
		for pos < len(l) && l[pos] != ' ' {
			c := l[pos]
			if (c < '0' || c > '9') && !strings.ContainsRune(".:/-,", rune(c)) {
				return tokens, end
			}
			pos++
		}
		if pos == start {
			return tokens, end
		}
		tokens, end = tokens+1, pos
		for pos < len(l) && l[pos] == ' ' {
			pos++
		}
	}
}

// New normal events an upgrade introduces: routine bookkeeping messages.
var newEventFormats = []string{
	"Checkpoint written for %s in %d ms",
	"Heartbeat acknowledged for %s (interval %d ms)",
	"Metrics snapshot recorded for %s: %d counters",
}

// newNormalEvent builds a routine line in the header layout of ref (same
// timestamp, process and component), about the session's id when the
// session's lines mention it.
func newNormalEvent(rng *rand.Rand, ref, id string) string {
	header, _ := splitHeader(ref)
	subject := id
	if !strings.Contains(ref, id) {
		subject = "this task"
	}
	msg := fmt.Sprintf(newEventFormats[rng.IntN(len(newEventFormats))], subject, 1+rng.IntN(500))
	if header == "" {
		return msg
	}
	return header + " " + msg
}
