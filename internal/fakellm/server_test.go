package fakellm

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	h.ServeHTTP(rec, req)
	return rec
}

// A chat completion is recorded and answered by the handler; anything else
// is refused, reported, and not recorded.
func TestServerRecordsAndRefuses(t *testing.T) {
	var problems []string
	s := &Server{
		Handle: func(w http.ResponseWriter, _ *http.Request, req Request, n int) {
			Completion(w, req.Model, req.User(), TestUsage)
		},
		OnProblem: func(f string, _ ...any) { problems = append(problems, f) },
	}
	body := `{"model":"m","messages":[{"role":"system","content":"sys"},{"role":"user","content":"q1"},{"role":"user","content":"q2"}]}`
	if rec := post(t, s, "/v1/chat/completions", body); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"content":"q1"`) {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if rec := post(t, s, "/v1/embeddings", body); rec.Code != http.StatusNotFound {
		t.Fatalf("other path: %d", rec.Code)
	}
	if rec := post(t, s, "/v1/chat/completions", "{not json"); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad JSON: %d", rec.Code)
	}
	if len(problems) != 2 {
		t.Fatalf("problems %q", problems)
	}
	got := s.Recorded()
	if s.Requests() != 1 || len(got) != 1 || got[0].Auth != "Bearer k" || got[0].Body != body {
		t.Fatalf("recorded %d: %+v", s.Requests(), got)
	}
	r := got[0].Parsed
	if r.System() != "sys" || r.User() != "q1" || r.LastUser() != "q2" || r.IsEvolDetect() {
		t.Fatalf("parsed %+v", r)
	}
}

func TestRequestSections(t *testing.T) {
	user := "Task (Evol Detect)\n<<<BEGIN UNTRUSTED LOG DATA n1>>>\n### REFERENCE SESSION (label: abnormal)\n\"ref line\"\n" +
		"### NEW SESSION\n\"a \\\"quoted\\\" line\"\n(2 lines omitted)\n\"second\"\n<<<END UNTRUSTED LOG DATA n1>>>\nAnswer in JSON."
	r := Request{Messages: []Message{{Role: "user", Content: user}}}
	if !r.IsEvolDetect() || r.RefLabel() != "abnormal" {
		t.Fatalf("evol %v ref %q", r.IsEvolDetect(), r.RefLabel())
	}
	lines := SectionLines(r.Section("NEW SESSION"))
	if len(lines) != 2 || lines[0] != `a "quoted" line` || lines[1] != "second" {
		t.Fatalf("lines %q", lines)
	}
	if r.Section("MISSING") != "" {
		t.Fatal("absent section")
	}
	m := DataSectionRE.FindStringSubmatch(user)
	if m == nil || m[1] != "n1" || m[3] != "n1" {
		t.Fatalf("data section %q", m)
	}
}
