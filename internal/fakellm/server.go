// Package fakellm is the project's one stand-in for an OpenAI-compatible chat
// completions endpoint. Server records every request and answers through a
// Handler: the tests script it (errors, delays, injected text). Oracle is the
// handler of the demo's and the end-to-end test's simulated LLM; with
// ByContent its wrong answers follow a session's content exactly as
// `coorlog eval --llm simulated-content:ACC` does (both draw with
// internal/simdraw). None of it is a model of an LLM, and what uses it says so.
//
// The request helpers read the prompt the way model/llm writes it (the
// "### NEW SESSION" section, the reference label, the Evol Detect task), in
// this one place.
package fakellm

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Handler answers one chat completion request; n counts the requests
// answered so far, this one included (1 for the first).
type Handler func(w http.ResponseWriter, r *http.Request, req Request, n int)

// Recorded is one request as it arrived.
type Recorded struct {
	Body   string
	Auth   string // the Authorization header
	Parsed Request
	At     time.Time
}

// Server is an http.Handler for POST {base}/chat/completions. It records each
// request, tracks how many are in flight, and answers through Handle. A
// request that is not a chat completion (another path or method, a body that
// is not JSON) is refused (404, 400) and reported to OnProblem. A client that
// hangs up before its body arrived is neither recorded nor answered. Safe for
// concurrent use.
type Server struct {
	Handle Handler
	// OnProblem, when set, hears about refused requests (tests: t.Errorf).
	OnProblem func(format string, args ...any)

	mu       sync.Mutex
	reqs     []Recorded
	n        atomic.Int64
	inflight atomic.Int64
	peak     atomic.Int64
}

func (s *Server) problem(format string, args ...any) {
	if s.OnProblem != nil {
		s.OnProblem(format, args...)
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cur := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		p := s.peak.Load()
		if cur <= p || s.peak.CompareAndSwap(p, cur) {
			break
		}
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		s.problem("fake LLM: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Context().Err() != nil {
		// The client hung up mid-request (a judge cancels a session's other
		// questions once one fails): the client's behaviour, not a bad request.
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		s.problem("fake LLM: request body is not JSON: %v", err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	n := int(s.n.Add(1))
	s.mu.Lock()
	s.reqs = append(s.reqs, Recorded{Body: string(body), Auth: r.Header.Get("Authorization"), Parsed: req, At: time.Now()})
	s.mu.Unlock()
	if s.Handle == nil {
		APIError(w, http.StatusNotImplemented, "fake LLM: no handler")
		return
	}
	s.Handle(w, r, req, n)
}

// Requests is the number of chat completion requests received.
func (s *Server) Requests() int64 { return s.n.Load() }

// InFlight is the number of requests being served now.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// Peak is the most requests that were in flight at once.
func (s *Server) Peak() int64 { return s.peak.Load() }

// Recorded returns a copy of the requests received, in order.
func (s *Server) Recorded() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.reqs...)
}

// TB is the part of testing.TB that Start needs.
type TB interface {
	Helper()
	Cleanup(func())
}

// Start serves h on 127.0.0.1 (httptest), over TLS with httptest's own
// certificate when tlsServer is set, until tb's cleanup. The API base URL is
// the server's URL + "/v1". Failed TLS handshakes are kept off stderr: some
// tests are about them.
func Start(tb TB, h http.Handler, tlsServer bool) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsServer {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	tb.Cleanup(srv.Close)
	return srv
}

// Usage is the token count an answer reports.
type Usage struct{ Prompt, Completion int }

// TestUsage is a fixed, plausible token count.
var TestUsage = &Usage{Prompt: 100, Completion: 20}

// Completion writes a chat completion whose message content is content, with
// a usage block unless usage is nil.
func Completion(w http.ResponseWriter, model, content string, usage *Usage) {
	resp := map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
		"choices": []map[string]any{{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": content},
		}},
	}
	if usage != nil {
		resp["usage"] = map[string]any{"prompt_tokens": usage.Prompt, "completion_tokens": usage.Completion,
			"total_tokens": usage.Prompt + usage.Completion}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// APIError writes an OpenAI-style error body with status.
func APIError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"fake","code":"fake","param":null}}`, msg)
}
