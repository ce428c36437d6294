package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/coorlog/coorlogprocessor/internal/cut"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The two answer schemas. The parser is strict on purpose: the answer is the
// only thing an attacker who controls log text could hope to steer, so
// anything but exactly these keys with exactly these types is rejected
// (and then repaired once, or the call falls back).
//
//	Evol Detect: {"is_evolution": true|false, "reason": "..."}
//	AD agent:    {"state": "normal"|"abnormal", "reason": "..."}
//
// The prompts show "reason" first so that a model writing in order reasons
// before it decides (the chain of thought of Evol-CoT lives in "reason");
// the parser accepts either order.
const (
	evolutionSchema = `{"reason": "<your step-by-step reasoning, at most a few sentences>", "is_evolution": true or false}`
	stateSchema     = `{"reason": "<your step-by-step reasoning, at most a few sentences>", "state": "normal" or "abnormal"}`
)

// maxAnswerBytes bounds what the parser looks at; a genuine answer is a few
// hundred bytes.
const maxAnswerBytes = 64 << 10

// answerKind selects the schema an answer must match.
type answerKind int

const (
	answerEvolution answerKind = iota // Evol Detect
	answerState                       // AD agent
)

// answer is a schema-valid reply. For answerEvolution, Yes is is_evolution;
// for answerState, Yes means "abnormal".
type answer struct {
	Yes    bool
	Reason string
}

// errSchema wraps every parse failure so callers can tell it from transport
// errors.
var errSchema = errors.New("answer does not match the schema")

// parseAnswer validates content against the schema of kind: one JSON object,
// optional surrounding whitespace, exactly the two keys, no duplicates, the
// right types, nothing after it.
func parseAnswer(kind answerKind, content string) (answer, error) {
	if len(content) > maxAnswerBytes {
		return answer{}, fmt.Errorf("%w: %d bytes is too long", errSchema, len(content))
	}
	if !utf8.ValidString(content) {
		return answer{}, fmt.Errorf("%w: not valid UTF-8", errSchema)
	}
	dec := json.NewDecoder(strings.NewReader(content))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return answer{}, fmt.Errorf("%w: not a JSON object", errSchema)
	}
	var (
		out               answer
		haveYes, haveWhy  bool
		yesKey            = "is_evolution"
		seenUnknown       bool
		errType, errValue error
	)
	if kind == answerState {
		yesKey = "state"
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return answer{}, fmt.Errorf("%w: malformed JSON", errSchema)
		}
		key, _ := tok.(string) // object keys are always strings
		val, err := dec.Token()
		if err != nil {
			return answer{}, fmt.Errorf("%w: malformed JSON", errSchema)
		}
		if d, ok := val.(json.Delim); ok && (d == '{' || d == '[') {
			// A nested value is never valid here; stop rather than walk it.
			return answer{}, fmt.Errorf("%w: a field holds an object or array", errSchema)
		}
		switch key {
		case yesKey:
			if haveYes {
				return answer{}, fmt.Errorf("%w: duplicate field %q", errSchema, yesKey)
			}
			haveYes = true
			if kind == answerEvolution {
				b, ok := val.(bool)
				if !ok {
					errType = fmt.Errorf("%w: is_evolution must be a boolean", errSchema)
					continue
				}
				out.Yes = b
				continue
			}
			s, ok := val.(string)
			switch {
			case !ok:
				errType = fmt.Errorf("%w: state must be a string", errSchema)
			case s == "normal":
				out.Yes = false
			case s == "abnormal":
				out.Yes = true
			default:
				errValue = fmt.Errorf("%w: state must be \"normal\" or \"abnormal\"", errSchema)
			}
		case "reason":
			if haveWhy {
				return answer{}, fmt.Errorf("%w: duplicate field \"reason\"", errSchema)
			}
			haveWhy = true
			s, ok := val.(string)
			if !ok {
				errType = fmt.Errorf("%w: reason must be a string", errSchema)
				continue
			}
			out.Reason = s
		default:
			seenUnknown = true
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return answer{}, fmt.Errorf("%w: malformed JSON", errSchema)
	}
	// Nothing but whitespace may follow the object.
	if _, err := dec.Token(); err != io.EOF {
		return answer{}, fmt.Errorf("%w: trailing data after the object", errSchema)
	}
	switch {
	case seenUnknown:
		// The key is the model's text: not echoed (errors and the repair
		// prompt use our words only).
		return answer{}, fmt.Errorf("%w: unknown field (only %q and \"reason\" are allowed)", errSchema, yesKey)
	case errType != nil:
		return answer{}, errType
	case errValue != nil:
		return answer{}, errValue
	case !haveYes:
		return answer{}, fmt.Errorf("%w: missing field %q", errSchema, yesKey)
	case !haveWhy:
		return answer{}, fmt.Errorf("%w: missing field \"reason\"", errSchema)
	}
	return out, nil
}

// cleanReason makes an LLM reason fit for a record attribute: control
// characters become spaces, runs of spaces collapse, at most max bytes (cut
// on a rune boundary, with an ellipsis).
func cleanReason(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	out := strings.TrimSpace(b.String())
	if len(out) > max {
		if max <= len("…") {
			return cut.UTF8(out, max)
		}
		out = cut.UTF8(out, max-len("…")) + "…"
	}
	return out
}
