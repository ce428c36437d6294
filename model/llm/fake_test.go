package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// fakeLLM is a local OpenAI-compatible chat completions endpoint (httptest
// binds 127.0.0.1 only). It records every request and answers through a
// programmable handler.
type fakeLLM struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	reqs     []recorded
	n        atomic.Int64 // requests seen
	inflight atomic.Int64
	peak     atomic.Int64
	handle   func(w http.ResponseWriter, r *http.Request, req chatReq, n int)
}

type recorded struct {
	Body   string
	Auth   string
	Parsed chatReq
	At     time.Time
}

type chatReq struct {
	Model          string  `json:"model"`
	Temperature    float64 `json:"temperature"`
	TopP           float64 `json:"top_p"`
	MaxCompletion  int     `json:"max_completion_tokens"`
	ResponseFormat struct {
		Type string `json:"type"`
	} `json:"response_format"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

func (r chatReq) system() string { return r.msg("system") }
func (r chatReq) user() string   { return r.msg("user") }
func (r chatReq) msg(role string) string {
	for _, m := range r.Messages {
		if m.Role == role {
			return m.Content
		}
	}
	return ""
}

// kind tells which Evol-CoT question a request is.
func (r chatReq) kind() promptKind {
	u := r.user()
	switch {
	case strings.Contains(u, "Task (Evol Detect)"):
		return promptEvolDetect
	case strings.Contains(u, "disagree"):
		return promptADUncertain
	default:
		return promptADCertain
	}
}

var refLabelRE = regexp.MustCompile(`### REFERENCE SESSION \(label: (normal|abnormal)\)`)

// refLabel is the label of the reference session of an Evol Detect request.
func (r chatReq) refLabel() string {
	m := refLabelRE.FindStringSubmatch(r.user())
	if m == nil {
		return ""
	}
	return m[1]
}

func newFake(t *testing.T, h func(w http.ResponseWriter, r *http.Request, req chatReq, n int)) *fakeLLM {
	t.Helper()
	f := &fakeLLM{t: t, handle: h}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		for {
			p := f.peak.Load()
			if cur <= p || f.peak.CompareAndSwap(p, cur) {
				break
			}
		}
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Context().Err() != nil {
			// The client hung up mid-request: the judge cancels a session's other questions
			// once one fails, so a cut-off body is the client's behaviour, not a malformed request.
			return
		}
		var req chatReq
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("fake LLM: request body is not JSON: %v", err)
		}
		if r.URL.Path != "/v1/chat/completions" {
			t.Errorf("fake LLM: unexpected path %s", r.URL.Path)
		}
		n := int(f.n.Add(1))
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{Body: string(body), Auth: r.Header.Get("Authorization"), Parsed: req, At: time.Now()})
		f.mu.Unlock()
		f.handle(w, r, req, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLLM) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeLLM) url() string { return f.srv.URL + "/v1" }

// completion writes a chat completion whose message content is content.
func completion(w http.ResponseWriter, content string, withUsage bool) {
	resp := map[string]any{
		"id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": "fake",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": content}}},
	}
	if withUsage {
		resp["usage"] = map[string]any{"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"test","code":"test","param":null}}`, msg)
}

// scripted answers Evol Detect by a rule on the reference label and the AD
// agent with a fixed state.
func scripted(evolution func(refLabel string) bool, state string) func(http.ResponseWriter, *http.Request, chatReq, int) {
	return func(w http.ResponseWriter, _ *http.Request, req chatReq, _ int) {
		if req.kind() == promptEvolDetect {
			completion(w, fmt.Sprintf(`{"is_evolution": %t, "reason": "fake evol reason"}`, evolution(req.refLabel())), true)
			return
		}
		completion(w, fmt.Sprintf(`{"state": %q, "reason": "fake AD reason"}`, state), true)
	}
}

const testKey = "sk-test-SECRET-KEY-0123456789abcdef"

// testConfig is a fast configuration against f.
func testConfig(f *fakeLLM) Config {
	cfg := DefaultConfig()
	cfg.BaseURL = f.url()
	cfg.Model = "fake-model"
	cfg.APIKey = testKey
	cfg.Timeout = 2 * time.Second
	cfg.MaxRetries = 2
	cfg.RetryBaseDelay = 5 * time.Millisecond
	cfg.RetryMaxDelay = 20 * time.Millisecond
	return cfg
}

func mustNew(t *testing.T, cfg Config) *Judge {
	t.Helper()
	j, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return j
}

// logBuffer is a concurrency-safe slog sink for grepping.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// HDFS-like sessions.
func hdfsSession(id, blk string) core.Session {
	return core.Session{ID: id, Lines: []string{
		"081109 203615 148 INFO dfs.DataNode$PacketResponder: Receiving block blk_" + blk + " src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
		"081109 203615 149 INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /mnt/hadoop/job_200811092030_0001/job.jar. blk_" + blk,
		"081109 203807 222 INFO dfs.DataNode$PacketResponder: PacketResponder 0 for block blk_" + blk + " terminating",
		"081109 203807 223 INFO dfs.DataNode$PacketResponder: Received block blk_" + blk + " of size 67108864 from /10.250.19.102",
	}}
}

func neighbour(id string, label int, sim float64) core.Neighbour {
	s := hdfsSession(id, "-7000"+id)
	return core.Neighbour{ID: id, Lines: s.Lines, Label: label, Similarity: sim}
}
