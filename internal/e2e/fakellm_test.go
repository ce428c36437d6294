package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
)

// oracleLLM is a local OpenAI-compatible chat completions endpoint that
// answers CoorLog's Evol-CoT questions from the content of the sessions it is
// shown: a session is abnormal when it records one of the failure events of
// HDFS. It stands in for a real LLM so that the end-to-end test can exercise
// the collector's LLM route; it is not a model of LLM accuracy.
type oracleLLM struct {
	requests atomic.Int64
	answered atomic.Int64
}

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

func (o *oracleLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	abnormal := failureRE.MatchString(sessionSection(user, "NEW SESSION"))
	var answer string
	if strings.Contains(user, "Task (Evol Detect)") {
		refAbnormal := false
		if m := refLabelRE.FindStringSubmatch(user); m != nil {
			refAbnormal = m[1] == "abnormal"
		}
		answer = fmt.Sprintf(`{"is_evolution": %v, "reason": "oracle: new session abnormal=%v, reference abnormal=%v"}`,
			abnormal == refAbnormal, abnormal, refAbnormal)
	} else {
		state := "normal"
		if abnormal {
			state = "abnormal"
		}
		answer = fmt.Sprintf(`{"state": %q, "reason": "oracle: failure events present=%v"}`, state, abnormal)
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
