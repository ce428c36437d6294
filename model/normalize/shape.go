package normalize

import (
	"regexp"
	"strings"
)

// quotedRE matches a double-quoted string, escapes included; an unclosed one
// runs to the end of the line (payloads cut by the logger).
var quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"?`)

// shapeWordRE is a run between separators (space, and the punctuation of
// key/value and JSON text), so that a key stays a word of its own.
var shapeWordRE = regexp.MustCompile(`[^\s,:;{}\[\]()=]+`)

// Shape is a line's event shape, coarser than Line: every quoted string
// becomes "*" except a key (a quoted string followed by ':', as in JSON), and
// every word that holds a digit or a mask of Line becomes *. Words are cut at
// spaces and at the punctuation of key/value and JSON text, so that the keys
// of a JSON line stay its words. Two lines of one event with different
// payloads, subjects, users, inbox or queue ids share a shape; two events
// differ in their words or keys. It is meant for counting how common an event
// is among sessions (learn mode's screen), where Line leaves too much
// variety: on a NATS server at trace level nearly every normal session has a
// line of its own under Line (message payloads, inbox ids), and only the
// fault events are rare shapes.
func Shape(line string) string {
	l := Line(line)
	var b strings.Builder
	last := 0
	for _, m := range quotedRE.FindAllStringIndex(l, -1) {
		b.WriteString(l[last:m[0]])
		if q := l[m[0]:m[1]]; m[1] < len(l) && l[m[1]] == ':' && !strings.ContainsAny(q, "0123456789<") {
			b.WriteString(q) // a key
		} else {
			b.WriteString(`"*"`)
		}
		last = m[1]
	}
	b.WriteString(l[last:])
	return shapeWordRE.ReplaceAllStringFunc(b.String(), func(w string) string {
		if w != `"*"` && strings.ContainsAny(w, "0123456789<") {
			return "*"
		}
		return w
	})
}
