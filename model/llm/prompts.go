package llm

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/json"
	"fmt"
	"github.com/coorlog/coorlogprocessor/internal/cut"
	"strings"
	"text/template"
	"unicode/utf8"
)

// PromptVersion names the prompt set in prompts/*.tmpl together with the
// data-section format built here. Bump it with any change to either: it is
// part of every reason and of Judge.Version, so verdicts stay attributable.
const PromptVersion = "evolcot-v1"

//go:embed prompts/*.tmpl
var promptFiles embed.FS

// promptKind names one of the three questions of Evol-CoT.
type promptKind int

const (
	promptEvolDetect  promptKind = iota // is the session an evolution of this neighbour?
	promptADCertain                     // neighbours agree: confirm their state
	promptADUncertain                   // neighbours disagree: abnormal and normal side by side
)

func (k promptKind) String() string {
	switch k {
	case promptEvolDetect:
		return "evol_detect"
	case promptADCertain:
		return "ad_certain"
	case promptADUncertain:
		return "ad_uncertain"
	}
	return "unknown"
}

func (k promptKind) answer() answerKind {
	if k == promptEvolDetect {
		return answerEvolution
	}
	return answerState
}

func (k answerKind) schema() string {
	if k == answerEvolution {
		return evolutionSchema
	}
	return stateSchema
}

// message is one chat message as sent to the endpoint.
type message struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// section is one session placed in the data section.
type section struct {
	Title    string // e.g. "NEW SESSION"; written by us, never log text
	Lines    []string
	MaxLines int
	MaxBytes int
}

// prompter renders the embedded templates. Immutable, safe for concurrent use.
type prompter struct {
	tmpl        *template.Template
	maxLineByte int
}

func newPrompter(maxLineBytes int) (*prompter, error) {
	t, err := template.New("prompts").Option("missingkey=error").ParseFS(promptFiles, "prompts/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parsing embedded prompt templates: %w", err)
	}
	for _, name := range []string{"system.tmpl", "evol_detect.tmpl", "ad_certain.tmpl", "ad_uncertain.tmpl", "repair.tmpl"} {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("embedded prompt template %s is missing", name)
		}
	}
	return &prompter{tmpl: t, maxLineByte: maxLineBytes}, nil
}

// taskVars are the template variables of one question besides the data.
type taskVars struct {
	ReferenceLabel string // evol detect: label of the reference session
	Majority       string // ad_certain: the neighbours' majority state
	Uncertainty    string // ad_*: formatted uncertainty score
	HaveExamples   bool   // ad_uncertain: at least one example is shown
}

// render builds the system and user messages of one question. The data
// section gets a fresh random boundary that occurs nowhere in the data.
func (p *prompter) render(kind promptKind, vars taskVars, secs []section) ([]message, error) {
	data, boundary, err := p.dataSection(secs)
	if err != nil {
		return nil, err
	}
	schema := kind.answer().schema()
	var sys, user bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&sys, "system.tmpl", map[string]any{
		"Boundary": boundary, "Schema": schema,
	}); err != nil {
		return nil, fmt.Errorf("rendering system prompt: %w", err)
	}
	name := map[promptKind]string{promptEvolDetect: "evol_detect.tmpl", promptADCertain: "ad_certain.tmpl", promptADUncertain: "ad_uncertain.tmpl"}[kind]
	if err := p.tmpl.ExecuteTemplate(&user, name, map[string]any{
		"Data": data, "Schema": schema, "ReferenceLabel": vars.ReferenceLabel,
		"Majority": vars.Majority, "Uncertainty": vars.Uncertainty, "HaveExamples": vars.HaveExamples,
	}); err != nil {
		return nil, fmt.Errorf("rendering %s prompt: %w", kind, err)
	}
	return []message{{Role: "system", Content: sys.String()}, {Role: "user", Content: user.String()}}, nil
}

// repair renders the follow-up sent once after an invalid answer. problem
// is our own description of what was wrong, never the model's text.
func (p *prompter) repair(kind answerKind, problem string) (string, error) {
	var b bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&b, "repair.tmpl", map[string]any{
		"Problem": problem, "Schema": kind.schema(),
	}); err != nil {
		return "", fmt.Errorf("rendering repair prompt: %w", err)
	}
	return b.String(), nil
}

// dataSection formats the sessions between boundary markers. Every log line
// is a JSON string literal on its own line, so no line can pose as a header
// or a marker; headers (starting with "###") and omission notes (starting
// with "[") are ours.
func (p *prompter) dataSection(secs []section) (string, string, error) {
	var body strings.Builder
	for _, s := range secs {
		shown := selectLines(s.Lines, s.MaxLines, s.MaxBytes, p.maxLineByte)
		fmt.Fprintf(&body, "### %s: %s", s.Title, plural(len(s.Lines), "line"))
		if n := len(s.Lines); len(shown.lines) < n {
			fmt.Fprintf(&body, ", %d shown (the first %d and the last %d)\n", len(shown.lines), shown.head, len(shown.lines)-shown.head)
		} else {
			body.WriteByte('\n')
		}
		for i, l := range shown.lines {
			if i == shown.head && len(shown.lines) < len(s.Lines) {
				fmt.Fprintf(&body, "[... %s omitted ...]\n", plural(len(s.Lines)-len(shown.lines), "line"))
			}
			body.WriteString(l)
			body.WriteByte('\n')
		}
	}
	text := body.String()
	for range 8 {
		boundary := rand.Text()
		if strings.Contains(text, boundary) {
			continue // astronomically unlikely; pick another
		}
		return "<<<BEGIN UNTRUSTED LOG DATA " + boundary + ">>>\n" + text +
			"<<<END UNTRUSTED LOG DATA " + boundary + ">>>", boundary, nil
	}
	return "", "", fmt.Errorf("could not choose a data boundary absent from the data")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// shownLines is the part of a session that fits the caps: head lines from
// the start, then tail lines from the end, each already JSON-quoted.
type shownLines struct {
	lines []string
	head  int
}

// selectLines keeps lines alternately from the start and the end of the
// session until the line or byte cap is reached, so that both how a session
// begins and how it ends (where failures show) reach the model. Each line
// is cut to maxLineBytes before quoting. At least one line is kept.
func selectLines(lines []string, maxLines, maxBytes, maxLineBytes int) shownLines {
	quoted := func(l string) string {
		if len(l) > maxLineBytes {
			kept := cut.UTF8(l, maxLineBytes)
			l = fmt.Sprintf("%s…[%d more bytes]", kept, len(l)-len(kept))
		}
		return jsonString(l)
	}
	if len(lines) == 0 {
		return shownLines{}
	}
	var head, tail []string
	used := 0
	lo, hi := 0, len(lines)-1
	for lo <= hi && len(head)+len(tail) < maxLines {
		fromHead := len(head) <= len(tail)
		idx := hi
		if fromHead {
			idx = lo
		}
		q := quoted(lines[idx])
		if used+len(q)+1 > maxBytes && len(head)+len(tail) > 0 {
			break
		}
		used += len(q) + 1
		if fromHead {
			head = append(head, q)
			lo++
		} else {
			tail = append(tail, q)
			hi--
		}
	}
	out := head
	for i := len(tail) - 1; i >= 0; i-- {
		out = append(out, tail[i])
	}
	return shownLines{lines: out, head: len(head)}
}

// jsonString quotes s as a JSON string literal without HTML escaping (so
// placeholders like <IP> stay readable). Invalid UTF-8 becomes U+FFFD.
func jsonString(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

// estimateTokens is the usage estimate when an endpoint reports none: one
// token per four characters, rounded up.
func estimateTokens(texts ...string) int {
	n := 0
	for _, t := range texts {
		n += utf8.RuneCountInString(t)
	}
	return (n + 3) / 4
}

func messagesTokens(msgs []message) int {
	n := 0
	for _, m := range msgs {
		n += estimateTokens(m.Content) + 4 // per-message framing
	}
	return n
}
