package normalize

import (
	"regexp"
	"strings"
)

// quotedRE matches a double-quoted string, escapes included; an unclosed one
// runs to the end of the line (payloads cut by the logger).
var quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"?`)

// Shape is a line's event shape, coarser than Line: quoted strings become
// "*", and every word that holds a digit or a mask of Line becomes *. Two
// lines of one event with different payloads, subjects, inbox names or
// queue names share a shape; two events differ in their words. It is
// meant for counting how common an event is among sessions (learn mode's
// screen), where Line leaves too much variety: on a NATS server at trace
// level nearly every normal session has a line of its own under Line
// (message payloads, inbox ids), and only the fault events are rare shapes.
func Shape(line string) string {
	l := quotedRE.ReplaceAllString(Line(line), `"*"`)
	f := strings.Fields(l)
	for i, w := range f {
		if strings.ContainsAny(w, "0123456789<") {
			f[i] = "*"
		}
	}
	return strings.Join(f, " ")
}
