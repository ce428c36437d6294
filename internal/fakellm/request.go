package fakellm

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Request is a chat completion request as the project's LLM client sends it.
type Request struct {
	Model               string  `json:"model"`
	Temperature         float64 `json:"temperature"`
	TopP                float64 `json:"top_p"`
	MaxCompletionTokens int     `json:"max_completion_tokens"`
	ResponseFormat      struct {
		Type string `json:"type"`
	} `json:"response_format"`
	Messages []Message `json:"messages"`
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// System is the first system message.
func (r Request) System() string { return r.first("system") }

// User is the first user message: the question.
func (r Request) User() string { return r.first("user") }

// LastUser is the last user message: the question, or a repair request after
// an answer that did not parse.
func (r Request) LastUser() string {
	var u string
	for _, m := range r.Messages {
		if m.Role == "user" {
			u = m.Content
		}
	}
	return u
}

func (r Request) first(role string) string {
	for _, m := range r.Messages {
		if m.Role == role {
			return m.Content
		}
	}
	return ""
}

// IsEvolDetect tells an Evol Detect question (is this session an evolution
// of its reference?) from an anomaly detection one.
func (r Request) IsEvolDetect() bool { return strings.Contains(r.LastUser(), "Task (Evol Detect)") }

var refLabelRE = regexp.MustCompile(`### REFERENCE SESSION \(label: (normal|abnormal)\)`)

// RefLabel is the label of an Evol Detect question's reference session
// ("normal" or "abnormal"), "" when there is none.
func (r Request) RefLabel() string {
	m := refLabelRE.FindStringSubmatch(r.LastUser())
	if m == nil {
		return ""
	}
	return m[1]
}

// Section is the text of the "### title" section of the last question, up to
// the next header or the end of the untrusted data; "" when absent.
func (r Request) Section(title string) string {
	prompt := r.LastUser()
	i := strings.Index(prompt, "### "+title)
	if i < 0 {
		return ""
	}
	rest := prompt[i+len("### "+title):]
	if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
		rest = rest[nl+1:]
	}
	for _, end := range []string{"\n### ", "<<<END UNTRUSTED LOG DATA"} {
		if j := strings.Index(rest, end); j >= 0 {
			rest = rest[:j]
		}
	}
	return rest
}

// SectionLines returns the log lines of a section: each is a JSON string
// literal on a line of its own (headers and omission notes are not).
func SectionLines(section string) []string {
	var out []string
	for _, l := range strings.Split(section, "\n") {
		var s string
		if strings.HasPrefix(l, `"`) && json.Unmarshal([]byte(l), &s) == nil {
			out = append(out, s)
		}
	}
	return out
}

// DataSectionRE matches one fenced block of untrusted log data in a prompt:
// the opening nonce, the data, the closing nonce.
var DataSectionRE = regexp.MustCompile(`(?s)<<<BEGIN UNTRUSTED LOG DATA ([A-Za-z0-9]+)>>>\n(.*?)\n<<<END UNTRUSTED LOG DATA ([A-Za-z0-9]+)>>>`)
