// Package oraclellm is a simulated LLM for the demo and the end-to-end test:
// a local OpenAI-compatible chat completions endpoint that answers CoorLog's
// Evol-CoT questions from the content of the sessions it is shown. A session
// is abnormal when it records one of the failure events of HDFS (exceptions,
// interrupted or failed responders and transfers, time-outs, missing blocks).
// It lets the collector's LLM route, the verdict cache and AEM run without a
// real model; it is not a model of LLM accuracy, and everything that uses it
// says so.
package oraclellm

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coorlog/coorlogprocessor/internal/simdraw"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// Oracle is the http.Handler of the simulated endpoint (POST
// {base}/chat/completions). Safe for concurrent use. The zero value answers
// from the HDFS failure events in the session; with Labels it answers from
// the label of the session's key (KeyRE's first match in the NEW SESSION;
// by default the first blk_ id), wrong with probability 1-Accuracy, like
// `coorlog eval --llm simulated:ACC`, and from the failure events for an
// unknown key.
type Oracle struct {
	Labels   map[string]int // session key -> 0 normal, 1 anomalous
	Accuracy float64        // with Labels; 0 means 1
	Seed     uint64
	// KeyRE finds the session key in the NEW SESSION's text: its first
	// capture group, or the whole match without one. Default: HDFS block ids.
	KeyRE *regexp.Regexp
	// ByContent makes the wrong answers follow the session's content (the
	// set of its normalised lines, normalize.ContentKey, as shown in the
	// prompt), as `coorlog eval --llm simulated-content:ACC` does: every
	// question about the same content gets the same answer. Otherwise each
	// question draws on its own.
	ByContent bool

	mu       sync.Mutex
	rng      *rand.Rand
	requests atomic.Int64
	answered atomic.Int64
}

var blockRE = regexp.MustCompile(`blk_-?\d+`)

// abnormal judges the NEW SESSION text.
func (o *Oracle) abnormal(session string) bool {
	if o.Labels != nil {
		if label, ok := o.Labels[o.key(session)]; ok {
			truth := label == 1
			acc := o.Accuracy
			if acc <= 0 {
				acc = 1
			}
			if o.ByContent {
				return truth == simdraw.Right(int64(o.Seed), normalize.ContentKey(sectionLines(session)), acc)
			}
			o.mu.Lock()
			if o.rng == nil {
				o.rng = rand.New(rand.NewPCG(o.Seed, 0x6f7261636c65))
			}
			wrong := o.rng.Float64() >= acc
			o.mu.Unlock()
			return truth != wrong
		}
	}
	return failureRE.MatchString(session)
}

// key is the session key in a session's text, "" when there is none.
func (o *Oracle) key(session string) string {
	re := o.KeyRE
	if re == nil {
		re = blockRE
	}
	m := re.FindStringSubmatch(session)
	switch {
	case m == nil:
		return ""
	case len(m) > 1:
		return m[1]
	}
	return m[0]
}

// sectionLines returns the log lines of a session section: each is a JSON
// string literal on a line of its own (headers and omission notes are not).
func sectionLines(section string) []string {
	var out []string
	for _, l := range strings.Split(section, "\n") {
		var s string
		if strings.HasPrefix(l, `"`) && json.Unmarshal([]byte(l), &s) == nil {
			out = append(out, s)
		}
	}
	return out
}

// Requests is the number of requests received.
func (o *Oracle) Requests() int64 { return o.requests.Load() }

var failureRE = regexp.MustCompile(`(?i)exception|interrupted|failed to|timed out|unexpected error|empty packet|does not belong`)

// sessionSection returns the lines of the "### <title>" section of a data
// section (up to the next header or the end marker).
func sessionSection(prompt, title string) string {
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

var refLabelRE = regexp.MustCompile(`### REFERENCE SESSION \(label: (normal|abnormal)\)`)

func (o *Oracle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var user string
	for _, m := range req.Messages {
		if m.Role == "user" {
			user = m.Content // the last user message is the question (or a repair)
		}
	}
	abnormal := o.abnormal(sessionSection(user, "NEW SESSION"))
	var answer string
	if strings.Contains(user, "Task (Evol Detect)") {
		refAbnormal := false
		if m := refLabelRE.FindStringSubmatch(user); m != nil {
			refAbnormal = m[1] == "abnormal"
		}
		answer = fmt.Sprintf(`{"is_evolution": %v, "reason": "simulated LLM (oracle): new session abnormal=%v, reference abnormal=%v"}`,
			abnormal == refAbnormal, abnormal, refAbnormal)
	} else {
		state := "normal"
		if abnormal {
			state = "abnormal"
		}
		answer = fmt.Sprintf(`{"state": %q, "reason": "simulated LLM (oracle): HDFS failure events present=%v"}`, state, abnormal)
	}
	o.answered.Add(1)
	resp := map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", o.answered.Load()), "object": "chat.completion", "created": 0, "model": req.Model,
		"choices": []map[string]any{{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": answer},
		}},
		"usage": map[string]any{"prompt_tokens": len(user) / 4, "completion_tokens": len(answer) / 4, "total_tokens": (len(user) + len(answer)) / 4},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}
