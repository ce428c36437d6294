package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/model/core"
)

func TestEvolDetectInheritsAgreeingLabel(t *testing.T) {
	f := newFake(t, scripted(func(ref string) bool { return ref == "normal" }, "abnormal"))
	j := mustNew(t, testConfig(f))
	nbs := []core.Neighbour{neighbour("a", 0, 0.7), neighbour("b", 1, 0.95), neighbour("c", 0, 0.9), neighbour("d", 0, 0.1)}

	jd, err := j.Judge(context.Background(), hdfsSession("s1", "123"), nbs)
	if err != nil {
		t.Fatalf("Judge: %v", err)
	}
	// TopK=3 by similarity: b (abnormal, 0.95), c (0.9), a (0.7); d is not asked.
	// The evolutions (a, c) are both normal: the session inherits "normal".
	if !jd.Inherited || jd.Anomaly || jd.Score != 0 {
		t.Fatalf("want inherited normal, got %+v", jd)
	}
	if !slices.Equal(jd.Evolutions, []int{0, 2}) {
		t.Fatalf("Evolutions = %v, want [0 2] (indices into the caller's slice)", jd.Evolutions)
	}
	if jd.Calls != 3 || jd.PromptTokens != 300 || jd.CompletionTokens != 60 || jd.TokensEstimated {
		t.Fatalf("usage: %+v", jd)
	}
	if !strings.HasPrefix(jd.Reason, "llm "+PromptVersion+" evol_detect: inherited normal") || !strings.Contains(jd.Reason, "fake evol reason") {
		t.Fatalf("reason %q", jd.Reason)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (one per top-K neighbour)", len(reqs))
	}
	for _, r := range reqs {
		p := r.Parsed
		if p.Model != "fake-model" || p.ResponseFormat.Type != "json_object" || p.Temperature != 0.01 || p.TopP != 0.95 || p.MaxCompletionTokens != 256 {
			t.Errorf("request parameters: %+v", p)
		}
		if r.Auth != "Bearer "+testKey {
			t.Errorf("Authorization header not sent as a bearer token")
		}
		if kindOf(p) != promptEvolDetect {
			t.Errorf("unexpected question kind %v", kindOf(p))
		}
	}
	if st := j.Stats(); st.Inherited != 1 || st.Calls != 3 || st.Sessions != 1 || st.PromptTokens != 300 {
		t.Fatalf("stats %+v", st)
	}
}

func TestADAgentCertainPrompt(t *testing.T) {
	f := newFake(t, scripted(func(string) bool { return false }, "abnormal"))
	j := mustNew(t, testConfig(f))
	nbs := []core.Neighbour{neighbour("a", 0, 0.9), neighbour("b", 0, 0.8), neighbour("c", 0, 0.7)}
	jd, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nbs)
	if err != nil {
		t.Fatalf("Judge: %v", err)
	}
	if jd.Inherited || !jd.Anomaly || jd.Score != 1 || jd.Calls != 4 || len(jd.Evolutions) != 0 {
		t.Fatalf("judgement %+v", jd)
	}
	if !strings.Contains(jd.Reason, "ad_certain") || !strings.Contains(jd.Reason, "fake AD reason") {
		t.Fatalf("reason %q", jd.Reason)
	}
	reqs := f.requests()
	last := reqs[len(reqs)-1].Parsed
	if kindOf(last) != promptADCertain {
		t.Fatalf("last request is %v, want the certain AD prompt", kindOf(last))
	}
	u := last.User()
	if !strings.Contains(u, "labelled mostly normal") || !strings.Contains(u, "uncertainty 0.00") {
		t.Errorf("certain prompt lacks the majority state or uncertainty:\n%s", u)
	}
	if strings.Count(u, "### SIMILAR SESSION") != 3 {
		t.Errorf("certain prompt should show the 3 top neighbours")
	}
	if st := j.Stats(); st.CertainPrompts != 1 || st.UncertainPrompts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestADAgentUncertainPromptSideBySide(t *testing.T) {
	// Evol Detect says "evolution" for every neighbour, but their labels
	// disagree: no inheritance; the labels are split, so the uncertain prompt.
	f := newFake(t, scripted(func(string) bool { return true }, "abnormal"))
	j := mustNew(t, testConfig(f))
	nbs := []core.Neighbour{neighbour("a", 0, 0.9), neighbour("b", 1, 0.85), neighbour("c", 0, 0.6), neighbour("d", 1, 0.5)}
	jd, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nbs)
	if err != nil {
		t.Fatalf("Judge: %v", err)
	}
	if jd.Inherited || !jd.Anomaly || jd.Calls != 4 {
		t.Fatalf("judgement %+v", jd)
	}
	// Evolutions keep the relations consistent with the verdict: b (abnormal).
	if !slices.Equal(jd.Evolutions, []int{1}) {
		t.Fatalf("Evolutions = %v, want [1]", jd.Evolutions)
	}
	reqs := f.requests()
	last := reqs[len(reqs)-1].Parsed
	if kindOf(last) != promptADUncertain {
		t.Fatalf("last request is %v, want the uncertain AD prompt", kindOf(last))
	}
	u := last.User()
	for _, h := range []string{"### SIMILAR ABNORMAL SESSION 1 (label: abnormal, similarity 0.85)", "### SIMILAR NORMAL SESSION 1 (label: normal, similarity 0.90)",
		"### SIMILAR ABNORMAL SESSION 2 (label: abnormal, similarity 0.50)", "### SIMILAR NORMAL SESSION 2 (label: normal, similarity 0.60)"} {
		if !strings.Contains(u, h) {
			t.Errorf("uncertain prompt lacks %q", h)
		}
	}
	if strings.Index(u, "SIMILAR ABNORMAL SESSION 1") > strings.Index(u, "SIMILAR NORMAL SESSION 1") ||
		strings.Index(u, "SIMILAR NORMAL SESSION 1") > strings.Index(u, "SIMILAR ABNORMAL SESSION 2") {
		t.Errorf("examples are not interleaved side by side")
	}
	if !strings.Contains(jd.Reason, "ad_uncertain") {
		t.Fatalf("reason %q", jd.Reason)
	}
}

func TestNoNeighboursGoesToUncertainPromptWithoutExamples(t *testing.T) {
	f := newFake(t, scripted(func(string) bool { return true }, "normal"))
	j := mustNew(t, testConfig(f))
	jd, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nil)
	if err != nil {
		t.Fatalf("Judge: %v", err)
	}
	if jd.Anomaly || jd.Calls != 1 {
		t.Fatalf("judgement %+v", jd)
	}
	u := f.requests()[0].Parsed.User()
	if !strings.Contains(u, "No labelled examples are available") {
		t.Fatalf("prompt without examples:\n%s", u)
	}
}

func TestUsageEstimatedWhenMissing(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatReq, _ int) {
		completion(w, `{"state": "normal", "reason": "ok"}`, false)
	})
	j := mustNew(t, testConfig(f))
	jd, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nil)
	if err != nil {
		t.Fatalf("Judge: %v", err)
	}
	if !jd.TokensEstimated || jd.PromptTokens < 200 || jd.CompletionTokens < 5 {
		t.Fatalf("want estimated usage, got %+v", jd)
	}
	if st := j.Stats(); st.EstimatedCalls != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMalformedThenRepaired(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatReq, n int) {
		if n == 1 {
			completion(w, "Sure! The session looks normal.", true)
			return
		}
		completion(w, `{"state": "normal", "reason": "repaired"}`, true)
	})
	j := mustNew(t, testConfig(f))
	jd, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nil)
	if err != nil {
		t.Fatalf("Judge: %v", err)
	}
	if jd.Anomaly || jd.Calls != 2 || !strings.Contains(jd.Reason, "repaired") {
		t.Fatalf("judgement %+v", jd)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	msgs := reqs[1].Parsed.Messages
	if len(msgs) != 4 || msgs[2].Role != "assistant" || msgs[2].Content != "Sure! The session looks normal." ||
		!strings.Contains(msgs[3].Content, "previous reply was rejected") || !strings.Contains(msgs[3].Content, stateSchema) {
		t.Fatalf("repair request messages: %+v", msgs)
	}
	if st := j.Stats(); st.Repairs != 1 || st.Errors[KindInvalidResponse] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMalformedTwiceFallsBack(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatReq, n int) {
		completion(w, "```json\n{\"state\": \"normal\", \"reason\": \"fenced\"}\n```", true)
	})
	j := mustNew(t, testConfig(f))
	jd, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nil)
	if !errors.Is(err, ErrInvalidResponse) || KindOf(err) != KindInvalidResponse {
		t.Fatalf("want ErrInvalidResponse, got %v", err)
	}
	if jd.Calls != 2 {
		t.Fatalf("the failed judgement should still report its 2 calls, got %+v", jd)
	}
	if len(f.requests()) != 2 {
		t.Fatalf("exactly one repair retry expected, got %d requests", len(f.requests()))
	}
	if st := j.Stats(); st.Failures != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSchemaInvalidStateIsRepaired(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatReq, n int) {
		if n == 1 {
			completion(w, `{"state": "maybe", "reason": "unsure"}`, true)
			return
		}
		completion(w, `{"state": "abnormal", "reason": "decided"}`, true)
	})
	j := mustNew(t, testConfig(f))
	jd, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nil)
	if err != nil || !jd.Anomaly {
		t.Fatalf("got %+v, %v", jd, err)
	}
	repair := f.requests()[1].Parsed.Messages[3].Content
	if !strings.Contains(repair, `state must be "normal" or "abnormal"`) {
		t.Fatalf("repair message does not say what was wrong: %q", repair)
	}
}

func TestEvolDetectFailureFailsTheSession(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatReq, n int) {
		if kindOf(req) == promptEvolDetect && req.RefLabel() == "abnormal" {
			apiError(w, http.StatusBadRequest, "bad")
			return
		}
		completion(w, `{"is_evolution": true, "reason": "x"}`, true)
	})
	j := mustNew(t, testConfig(f))
	nbs := []core.Neighbour{neighbour("a", 0, 0.9), neighbour("b", 1, 0.8)}
	_, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nbs)
	if KindOf(err) != KindClientError {
		t.Fatalf("want client_error from the failing neighbour question, got %v", err)
	}
}

func TestVerdictCache(t *testing.T) {
	f := newFake(t, scripted(func(string) bool { return false }, "abnormal"))
	j := mustNew(t, testConfig(f))
	nbs := []core.Neighbour{neighbour("a", 0, 0.9)}
	first, err := j.Judge(context.Background(), hdfsSession("s1", "111"), nbs)
	if err != nil || first.Cached {
		t.Fatalf("first: %+v %v", first, err)
	}
	sent := len(f.requests())
	// Same template sequence, different block id: answered from the cache.
	second, err := j.Judge(context.Background(), hdfsSession("s2", "-98765"), nbs)
	if err != nil {
		t.Fatalf("second: %v", err)
	}
	if !second.Cached || second.Calls != 0 || second.Anomaly != first.Anomaly || second.Reason != first.Reason {
		t.Fatalf("second should be a cache hit: %+v", second)
	}
	if len(f.requests()) != sent {
		t.Fatalf("a cache hit sent %d requests", len(f.requests())-sent)
	}
	// A different sequence is asked again.
	other := hdfsSession("s3", "5")
	other.Lines = append(other.Lines, "081109 203900 1 WARN dfs.DataNode: Exception in receiveBlock for block blk_5")
	if jd, err := j.Judge(context.Background(), other, nbs); err != nil || jd.Cached {
		t.Fatalf("different sequence: %+v %v", jd, err)
	}
	if st := j.Stats(); st.CacheHits != 1 || st.Sessions != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// Sessions that arrive with upstream templates (log.record.template) share a
// verdict when their templates match, whatever their lines; a session with
// the first one's lines but no templates is another content.
func TestVerdictCacheKeyedByUpstreamTemplates(t *testing.T) {
	f := newFake(t, scripted(func(string) bool { return false }, "abnormal"))
	j := mustNew(t, testConfig(f))
	nbs := []core.Neighbour{neighbour("a", 0, 0.9)}
	tpl := []string{"Receiving block <*>", "allocateBlock <*>", "PacketResponder <*> terminating", "Received block <*>"}
	s1 := hdfsSession("s1", "111")
	s1.Templates = tpl
	if jd, err := j.Judge(context.Background(), s1, nbs); err != nil || jd.Cached {
		t.Fatalf("first: %+v %v", jd, err)
	}
	s2 := hdfsSession("s2", "222")
	s2.Lines = append(s2.Lines[:3:3], "a line the normaliser would key differently")
	s2.Templates = tpl
	if jd, err := j.Judge(context.Background(), s2, nbs); err != nil || !jd.Cached {
		t.Fatalf("same upstream templates, other lines: %+v %v", jd, err)
	}
	if jd, err := j.Judge(context.Background(), hdfsSession("s3", "111"), nbs); err != nil || jd.Cached {
		t.Fatalf("no templates: keyed by its lines, a new content: %+v %v", jd, err)
	}
}

func TestVerdictCacheCollapsesConcurrentMisses(t *testing.T) {
	release := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatReq, n int) {
		<-release
		completion(w, `{"state": "normal", "reason": "ok"}`, true)
	})
	j := mustNew(t, testConfig(f))
	var wg sync.WaitGroup
	results := make([]core.Judgement, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = j.Judge(context.Background(), hdfsSession(fmt.Sprint(i), fmt.Sprint(1000+i)), nil)
		})
	}
	for f.Requests() < 1 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	hits := 0
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("session %d: %v", i, errs[i])
		}
		if results[i].Cached {
			hits++
		}
	}
	if got := len(f.requests()); got != 1 || hits != 7 {
		t.Fatalf("%d requests and %d cache hits for 8 identical sequences, want 1 and 7", got, hits)
	}
}

func TestCacheDisabled(t *testing.T) {
	f := newFake(t, scripted(nil, "normal"))
	cfg := testConfig(f)
	cfg.CacheSize = -1
	j := mustNew(t, cfg)
	for i := range 2 {
		if _, err := j.Judge(context.Background(), hdfsSession(fmt.Sprint(i), "1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.requests()) != 2 {
		t.Fatalf("with the cache disabled both sessions must be sent")
	}
}

func TestReasonIsCleanedAndTruncated(t *testing.T) {
	long := strings.Repeat("é", 400) + "\n\tend"
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatReq, n int) {
		reason, _ := json.Marshal("line1\nline2\x00 " + long)
		completion(w, fmt.Sprintf(`{"state": "normal", "reason": %s}`, reason), true)
	})
	cfg := testConfig(f)
	cfg.MaxReasonBytes = 120
	j := mustNew(t, cfg)
	jd, err := j.Judge(context.Background(), hdfsSession("s1", "1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(jd.Reason) > 120 || strings.ContainsAny(jd.Reason, "\n\t\x00") || !strings.HasSuffix(jd.Reason, "…") {
		t.Fatalf("reason not cleaned: %q (%d bytes)", jd.Reason, len(jd.Reason))
	}
	if !strings.Contains(jd.Reason, "line1 line2") {
		t.Fatalf("reason lost its text: %q", jd.Reason)
	}
}

func TestVersion(t *testing.T) {
	f := newFake(t, scripted(nil, "normal"))
	if v := mustNew(t, testConfig(f)).Version(); v != "fake-model+"+PromptVersion {
		t.Fatalf("Version() = %q", v)
	}
}

func TestCutOffAnswerRepairAsksForShorterReason(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatReq, n int) {
		if n == 1 {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"finish_reason":"length","message":{"role":"assistant","content":"{\"reason\": \"first the events align, then"}}]}`))
			return
		}
		completion(w, `{"reason": "short", "state": "normal"}`, true)
	})
	j := mustNew(t, testConfig(f))
	if _, err := j.Judge(context.Background(), hdfsSession("s", "1"), nil); err != nil {
		t.Fatal(err)
	}
	if fix := f.requests()[1].Parsed.Messages[3].Content; !strings.Contains(fix, "cut off at the length limit") {
		t.Fatalf("repair should ask for a shorter answer: %q", fix)
	}
}
