package llm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// judgeOnce runs one session with no neighbours (one AD question) and
// reports how long it took.
func judgeOnce(t *testing.T, j *Judge, ctx context.Context) (core.Judgement, error, time.Duration) {
	t.Helper()
	start := time.Now()
	jd, err := j.Judge(ctx, hdfsSession("s", "1"), nil)
	return jd, err, time.Since(start)
}

func TestStallCutByRequestTimeout(t *testing.T) {
	// The server would stall for 30 s; each attempt is cut at 150 ms.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ chatReq, _ int) {
		select {
		case <-time.After(30 * time.Second):
		case <-r.Context().Done():
		}
	})
	cfg := testConfig(f)
	cfg.Timeout = 150 * time.Millisecond
	cfg.MaxRetries = 1
	j := mustNew(t, cfg)
	_, err, took := judgeOnce(t, j, context.Background())
	if !errors.Is(err, ErrTimeout) || KindOf(err) != KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a timeout, got %v", err)
	}
	var named interface{ KindName() string }
	if !errors.As(err, &named) || named.KindName() != "timeout" {
		t.Fatalf("KindName via an interface: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Attempts != 2 {
		t.Fatalf("want 2 attempts, got %+v", e)
	}
	if took > 2*time.Second {
		t.Fatalf("took %v; the stall must be cut by the request timeout", took)
	}
	if st := j.Stats(); st.Errors[KindTimeout] != 2 || st.Requests != 2 || st.Retries != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStallInBodyCutByTimeout(t *testing.T) {
	// Headers arrive, then the body stalls.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ chatReq, _ int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"id":"x","choices":[`))
		w.(http.Flusher).Flush()
		select {
		case <-time.After(30 * time.Second):
		case <-r.Context().Done():
		}
	})
	cfg := testConfig(f)
	cfg.Timeout = 150 * time.Millisecond
	cfg.MaxRetries = 0
	_, err, took := judgeOnce(t, mustNew(t, cfg), context.Background())
	if KindOf(err) != KindTimeout || took > 2*time.Second {
		t.Fatalf("want a timeout within 2 s, got %v after %v", err, took)
	}
}

func TestRateLimitedHonoursRetryAfterSeconds(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			apiError(w, http.StatusTooManyRequests, "slow down")
			return
		}
		completion(w, `{"state": "normal", "reason": "ok"}`, true)
	})
	j := mustNew(t, testConfig(f)) // backoff alone would wait <= 20 ms
	jd, err, _ := judgeOnce(t, j, context.Background())
	if err != nil || jd.Anomaly {
		t.Fatalf("got %+v, %v", jd, err)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 950*time.Millisecond || gap > 3*time.Second {
		t.Fatalf("retry came %v after the 429; Retry-After said 1 s", gap)
	}
	if st := j.Stats(); st.Errors[KindRateLimited] != 1 || st.Retries != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRetryAfterAboveCapFailsAtOnce(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, _ int) {
		w.Header().Set("Retry-After", "600")
		apiError(w, http.StatusTooManyRequests, "come back later")
	})
	cfg := testConfig(f)
	cfg.MaxRetryAfter = 2 * time.Second
	_, err, took := judgeOnce(t, mustNew(t, cfg), context.Background())
	if !errors.Is(err, ErrRateLimited) || took > time.Second || len(f.requests()) != 1 {
		t.Fatalf("want an immediate rate_limited error, got %v after %v and %d requests", err, took, len(f.requests()))
	}
	if !strings.Contains(err.Error(), "max_retry_after") {
		t.Fatalf("error should say why it did not wait: %v", err)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		h, v string
		want time.Duration
		ok   bool
	}{
		{"Retry-After", "3", 3 * time.Second, true},
		{"Retry-After", "0.5", 500 * time.Millisecond, true},
		{"Retry-After", now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, true},
		{"Retry-After", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Retry-After", "soon", 0, false},
		{"Retry-After", "-4", 0, false},
		{"Retry-After", "1e300", 0, false},
		{"Retry-After-Ms", "250", 250 * time.Millisecond, true},
	} {
		resp := &http.Response{Header: http.Header{}}
		resp.Header.Set(c.h, c.v)
		got, ok := retryAfter(resp, now)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: %q -> %v %v, want %v %v", c.h, c.v, got, ok, c.want, c.ok)
		}
	}
	if _, ok := retryAfter(nil, now); ok {
		t.Errorf("nil response has no Retry-After")
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	base, max := 100*time.Millisecond, 1*time.Second
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 6: time.Second} {
		for range 50 {
			d := backoff(base, max, attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

func TestServerErrorsRetriedThenSuccess(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, n int) {
		if n <= 2 {
			apiError(w, http.StatusInternalServerError, "boom")
			return
		}
		completion(w, `{"state": "abnormal", "reason": "third time"}`, true)
	})
	j := mustNew(t, testConfig(f))
	jd, err, _ := judgeOnce(t, j, context.Background())
	if err != nil || !jd.Anomaly || jd.Calls != 1 {
		t.Fatalf("got %+v, %v", jd, err)
	}
	if st := j.Stats(); st.Errors[KindServerError] != 2 || st.Retries != 2 || st.Requests != 3 || st.Calls != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerErrorStormFails(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, n int) {
		// Plain-text 503 bodies: the SDK cannot decode them as an API error.
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("upstream connect error"))
	})
	j := mustNew(t, testConfig(f))
	_, err, _ := judgeOnce(t, j, context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindServerError || e.StatusCode != 503 || e.Attempts != 3 {
		t.Fatalf("want server_error 503 after 3 attempts, got %v", err)
	}
	if len(f.requests()) != 3 {
		t.Fatalf("%d requests, want 1 + MaxRetries(2)", len(f.requests()))
	}
}

func TestUnauthorizedIsNotRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, _ int) {
		apiError(w, http.StatusUnauthorized, "Incorrect API key provided")
	})
	j := mustNew(t, testConfig(f))
	_, err, _ := judgeOnce(t, j, context.Background())
	if !errors.Is(err, ErrAuth) || len(f.requests()) != 1 {
		t.Fatalf("want one request and ErrAuth, got %v after %d requests", err, len(f.requests()))
	}
	if st := j.Stats(); st.Errors[KindAuth] != 1 || st.Retries != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEndpointDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	cfg := DefaultConfig()
	cfg.BaseURL, cfg.Model, cfg.APIKey = "http://"+addr+"/v1", "m", testKey
	cfg.MaxRetries, cfg.RetryBaseDelay, cfg.RetryMaxDelay = 2, 5*time.Millisecond, 10*time.Millisecond
	j := mustNew(t, cfg)
	_, err, took := judgeOnce(t, j, context.Background())
	if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "connection refused") || took > 2*time.Second {
		t.Fatalf("want a quick network error, got %v after %v", err, took)
	}
}

func TestTLSToPlainHTTPEndpoint(t *testing.T) {
	f := newFake(t, scripted(nil, "normal"))
	cfg := testConfig(f)
	cfg.BaseURL = strings.Replace(f.url(), "http://", "https://", 1)
	_, err, _ := judgeOnce(t, mustNew(t, cfg), context.Background())
	if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("want a TLS network error, got %v", err)
	}
}

func TestTruncatedBody(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, n int) {
		if n == 1 {
			// Promise more than is sent, then drop the connection.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "500")
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assist`))
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		completion(w, `{"state": "normal", "reason": "whole"}`, true)
	})
	j := mustNew(t, testConfig(f))
	jd, err, _ := judgeOnce(t, j, context.Background())
	if err != nil || !strings.Contains(jd.Reason, "whole") {
		t.Fatalf("a truncated body should be retried: %+v %v", jd, err)
	}
	if st := j.Stats(); st.Errors[KindInvalidResponse]+st.Errors[KindNetwork] != 1 {
		t.Fatalf("the truncated attempt should be counted: %+v", st.Errors)
	}
}

func TestNonJSONBody(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, _ int) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Gateway says hello</body></html>"))
	})
	cfg := testConfig(f)
	cfg.MaxRetries = 1
	_, err, _ := judgeOnce(t, mustNew(t, cfg), context.Background())
	if !errors.Is(err, ErrInvalidResponse) {
		t.Fatalf("want ErrInvalidResponse, got %v", err)
	}
	// JSON content type, but not a chat completion.
	f2 := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, _ int) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`not json at all`))
	})
	_, err, _ = judgeOnce(t, mustNew(t, testConfig(f2)), context.Background())
	if !errors.Is(err, ErrInvalidResponse) {
		t.Fatalf("want ErrInvalidResponse, got %v", err)
	}
}

func TestEmptyChoicesIsInvalidAnswer(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, _ int) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","choices":[]}`))
	})
	_, err, _ := judgeOnce(t, mustNew(t, testConfig(f)), context.Background())
	if !errors.Is(err, ErrInvalidResponse) || len(f.requests()) != 2 {
		t.Fatalf("want invalid answer after one repair, got %v (%d requests)", err, len(f.requests()))
	}
}

func TestSlowResponsesAndConcurrencyLimit(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatReq, _ int) {
		time.Sleep(150 * time.Millisecond) // slow but within the timeout
		completion(w, `{"state": "normal", "reason": "slow"}`, true)
	})
	cfg := testConfig(f)
	cfg.MaxConcurrent = 2
	cfg.CacheSize = -1
	j := mustNew(t, cfg)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { _, errs[i] = j.Judge(context.Background(), hdfsSession(strconv.Itoa(i), "1"), nil) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("slow answer within the timeout must succeed: %v", err)
		}
	}
	if p := f.Peak(); p > 2 || p < 1 {
		t.Fatalf("peak in-flight requests %d, limit 2", p)
	}
}

func TestCancellationOnShutdown(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ chatReq, _ int) {
		select {
		case <-time.After(30 * time.Second):
		case <-r.Context().Done():
		}
	})
	cfg := testConfig(f)
	cfg.Timeout = 30 * time.Second
	j := mustNew(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	nbs := []core.Neighbour{neighbour("a", 0, 0.9), neighbour("b", 0, 0.8)}
	start := time.Now()
	_, err := j.Judge(ctx, hdfsSession("s", "1"), nbs)
	if !errors.Is(err, context.Canceled) || KindOf(err) != KindCanceled {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("cancellation took %v", took)
	}
	// Waiting for a concurrency slot is cancellable too.
	cfg.MaxConcurrent = 1
	j2 := mustNew(t, cfg)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { _, _ = j2.Judge(ctx2, hdfsSession("x", "1"), nil) }()
	for f.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx3, cancel3 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel3()
	other := hdfsSession("y", "1")
	other.Lines = other.Lines[:2]
	if _, err := j2.Judge(ctx3, other, nil); KindOf(err) != KindCanceled {
		t.Fatalf("waiting for a slot: want canceled, got %v", err)
	}
}

func TestBudgetExhaustedFailsFast(t *testing.T) {
	f := newFake(t, scripted(nil, "normal"))
	cfg := testConfig(f)
	cfg.TokensPerMinute = 3000 // one AD question reserves ~1.2k
	cfg.CacheSize = -1
	j := mustNew(t, cfg)
	ok, budget := 0, 0
	for i := range 4 {
		start := time.Now()
		_, err := j.Judge(context.Background(), hdfsSession(fmt.Sprint(i), "1"), nil)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrBudget):
			budget++
			if took := time.Since(start); took > 500*time.Millisecond { // a refill is a minute away; loose for loaded -race runs
				t.Fatalf("ErrBudget took %v; it must not queue", took)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	// Usage reports 120 tokens per answer, so settling refunds most of
	// each reservation: more fit than the reservations alone would allow.
	if ok < 2 || budget == 0 && ok != 4 {
		t.Fatalf("ok=%d budget=%d", ok, budget)
	}
	if len(f.requests()) != ok {
		t.Fatalf("a budget failure must not send a request")
	}

	cfg.TokensPerMinute = 100 // smaller than any request
	_, err := mustNew(t, cfg).Judge(context.Background(), hdfsSession("z", "1"), nil)
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "tokens_per_minute") {
		t.Fatalf("want ErrBudget naming tokens_per_minute, got %v", err)
	}
}

func TestHourlyCap(t *testing.T) {
	f := newFake(t, scripted(nil, "normal"))
	cfg := testConfig(f)
	cfg.MaxTokensPerHour = 1500
	cfg.CacheSize = -1
	j := mustNew(t, cfg)
	var errs []error
	for i := range 20 {
		_, err := j.Judge(context.Background(), hdfsSession(fmt.Sprint(i), "1"), nil)
		errs = append(errs, err)
	}
	n := len(f.requests())
	if n == 0 || n == 20 || !errors.Is(errs[19], ErrBudget) || !strings.Contains(errs[19].Error(), "max_tokens_per_hour") {
		t.Fatalf("hourly cap: %d requests, last error %v", n, errs[19])
	}
	if used := int64(n) * 120; used > 1500 {
		t.Fatalf("%d tokens used, cap 1500", used)
	}
}

func TestTLSUntrustedCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		completion(w, `{"state": "normal", "reason": "ok"}`, true)
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.BaseURL, cfg.Model, cfg.APIKey = srv.URL+"/v1", "m", testKey
	cfg.RetryBaseDelay = time.Millisecond
	j := mustNew(t, cfg)
	_, err, _ := judgeOnce(t, j, context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindNetwork || !strings.Contains(e.Error(), "TLS certificate rejected") || e.Attempts != 1 {
		t.Fatalf("want an unretried TLS certificate error, got %v", err)
	}
	// With the server's CA (what confighttp's TLS settings produce) it works.
	cfg.HTTPClient = srv.Client()
	if _, err, _ := judgeOnce(t, mustNew(t, cfg), context.Background()); err != nil {
		t.Fatalf("with a trusting HTTPClient: %v", err)
	}
}
