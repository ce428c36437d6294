package llm

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/fakellm"
	"github.com/coorlog/coorlogprocessor/model/core"
)

// fakeLLM is the project's fake OpenAI-compatible endpoint (internal/fakellm)
// on 127.0.0.1, answering through a programmable handler.
type fakeLLM struct {
	*fakellm.Server
	srv *httptest.Server
}

type (
	chatReq  = fakellm.Request
	recorded = fakellm.Recorded
)

// kindOf tells which Evol-CoT question a request is.
func kindOf(r chatReq) promptKind {
	switch {
	case r.IsEvolDetect():
		return promptEvolDetect
	case strings.Contains(r.User(), "disagree"):
		return promptADUncertain
	default:
		return promptADCertain
	}
}

func newFake(t *testing.T, h fakellm.Handler) *fakeLLM {
	t.Helper()
	f := &fakeLLM{Server: &fakellm.Server{Handle: h, OnProblem: t.Errorf}}
	f.srv = fakellm.Start(t, f.Server, false)
	return f
}

func (f *fakeLLM) requests() []recorded { return f.Recorded() }

func (f *fakeLLM) url() string { return f.srv.URL + "/v1" }

// completion writes a chat completion whose message content is content.
func completion(w http.ResponseWriter, content string, withUsage bool) {
	var u *fakellm.Usage
	if withUsage {
		u = fakellm.TestUsage
	}
	fakellm.Completion(w, "fake", content, u)
}

func apiError(w http.ResponseWriter, status int, msg string) { fakellm.APIError(w, status, msg) }

// scripted answers Evol Detect by a rule on the reference label and the AD
// agent with a fixed state.
func scripted(evolution func(refLabel string) bool, state string) fakellm.Handler {
	return func(w http.ResponseWriter, _ *http.Request, req chatReq, _ int) {
		if kindOf(req) == promptEvolDetect {
			completion(w, fmt.Sprintf(`{"is_evolution": %t, "reason": "fake evol reason"}`, evolution(req.RefLabel())), true)
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
