package dataset

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"
)

// Entry evolution (see evolve.go): the rewrites of one template, and the
// header layout (level, component) they keep.

// rewrite is one template's entry evolution.
type rewrite struct {
	kind          string
	param         int
	seed          uint64
	lines         int
	before, after string
}

var levels = map[string]bool{
	"INFO": true, "WARN": true, "WARNING": true, "ERROR": true, "FATAL": true, "DEBUG": true,
	"TRACE": true, "SEVERE": true, "NOTICE": true, "CRITICAL": true, "ERR": true, "FAILURE": true,
}

// splitHeader splits a line into its header (up to and including the level
// and a following "component:" token) and the message body. A line without a
// level token within its first 10 tokens is all body.
func splitHeader(line string) (header, body string) {
	pos := 0
	for n := 0; n < 10; n++ {
		for pos < len(line) && line[pos] == ' ' {
			pos++
		}
		if pos >= len(line) {
			return "", line
		}
		end := strings.IndexByte(line[pos:], ' ')
		if end < 0 {
			return "", line
		}
		tok := line[pos : pos+end]
		pos += end
		if !levels[tok] {
			continue
		}
		rest := strings.TrimLeft(line[pos:], " ")
		if c, after, ok := strings.Cut(rest, " "); ok && len(c) > 1 && strings.HasSuffix(c, ":") {
			return line[:pos] + " " + c, after
		}
		return line[:pos], rest
	}
	return "", line
}

// component returns the header's "component:" token, if any.
func component(header string) (start int, comp string) {
	i := strings.LastIndexByte(header, ' ')
	c := header[i+1:]
	if len(c) > 1 && strings.HasSuffix(c, ":") && !levels[strings.TrimSuffix(c, ":")] {
		return i + 1, c
	}
	return -1, ""
}

// Added details: each with the ranges of its two values.
var detailFormats = []struct {
	format     string
	maxA, maxB int
}{
	{" with %d pieces (estimated total size %d MiB)", 512, 4096},
	{" (took %d ms, queue %d)", 2000, 64},
	{" in %d ms using %d threads", 500, 16},
	{" [attempt %d, %d bytes buffered]", 1, 65536},
}

var prefixes = []string{"op: ", "[core] ", "event: ", "status: "}

var synonyms = map[string]string{
	"receiving": "accepting", "received": "accepted", "deleting": "removing", "served": "sent",
	"terminating": "exiting", "succeeded": "passed", "verification": "check", "starting": "launching",
	"exception": "error", "corrected": "fixed", "generating": "creating", "failed": "did not succeed",
	"interrupted": "stopped", "transfer": "copy", "updated": "refreshed", "added": "appended",
	"error": "fault", "connection": "link", "closed": "shut", "opened": "open", "registered": "enrolled",
	"finished": "completed", "started": "launched", "stopping": "halting", "sending": "transmitting",
	"request": "call", "allocating": "reserving", "removing": "dropping", "unable": "not able",
	"invalid": "not valid", "timeout": "time limit", "detected": "found", "running": "executing",
}

var connectors = map[string]bool{"from": true, "to": true, "of": true, "on": true, "for": true, "in": true, "at": true, "with": true, "by": true}

// apply rewrites one line; false when the kind does not fit the line.
func (rw *rewrite) apply(line string) (string, bool) {
	header, body := splitHeader(line)
	join := func(h, b string) string {
		if h == "" {
			return b
		}
		return h + " " + b
	}
	switch rw.kind {
	case KindDetail:
		// Values vary per line like real variables, but repeat for the same line.
		h := fnv.New64a()
		h.Write([]byte(line))
		r := rand.New(rand.NewPCG(h.Sum64(), rw.seed))
		d := detailFormats[rw.param%len(detailFormats)]
		return line + fmt.Sprintf(d.format, 1+r.IntN(d.maxA), 1+r.IntN(d.maxB)), true
	case KindComponent:
		i, c := component(header)
		if c == "" {
			return "", false
		}
		name := strings.TrimSuffix(c, ":")
		var nc string
		if k := strings.LastIndexByte(name, '.'); k >= 0 {
			// A class moved to a sub-package, as in a refactoring release.
			sub := []string{"server", "impl", "core"}[rw.param%3]
			nc = name[:k] + "." + sub + name[k:]
		} else {
			nc = name + []string{"Service", "Manager", "Impl"}[rw.param%3]
		}
		return join(header[:i]+nc+":", body), true
	case KindWord:
		words := strings.Split(body, " ")
		n := 0
		for k, w := range words {
			core := strings.TrimRightFunc(w, func(r rune) bool { return unicode.IsPunct(r) })
			syn, ok := synonyms[strings.ToLower(core)]
			if !ok {
				continue
			}
			if r := []rune(core); len(r) > 0 && unicode.IsUpper(r[0]) {
				syn = strings.ToUpper(syn[:1]) + syn[1:]
			}
			words[k] = syn + w[len(core):]
			n++
		}
		if n == 0 {
			return "", false
		}
		return join(header, strings.Join(words, " ")), true
	case KindReorder:
		// Move the last "connector value" clause to the front of the message:
		// "Received block X of size N from /ip" -> "Received from /ip block X of size N".
		words := strings.Split(body, " ")
		for k := len(words) - 2; k >= 2; k-- {
			if connectors[strings.ToLower(words[k])] && len(words)-k <= 4 {
				clause := slices.Clone(words[k:])
				nw := append([]string{words[0]}, clause...)
				nw = append(nw, words[1:k]...)
				return join(header, strings.Join(nw, " ")), true
			}
		}
		return "", false
	case KindFields:
		// "src: /a dest: /b" -> "src=/a dest=/b".
		words := strings.Split(body, " ")
		var nw []string
		changed := false
		for k := 0; k < len(words); k++ {
			w := words[k]
			if k+1 < len(words) && len(w) > 1 && strings.HasSuffix(w, ":") && isWord(w[:len(w)-1]) && words[k+1] != "" {
				nw = append(nw, w[:len(w)-1]+"="+words[k+1])
				k++
				changed = true
				continue
			}
			nw = append(nw, w)
		}
		if !changed {
			return "", false
		}
		return join(header, strings.Join(nw, " ")), true
	case KindPrefix:
		return join(header, prefixes[rw.param%len(prefixes)]+body), true
	}
	return "", false
}

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}
