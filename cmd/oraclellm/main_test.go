package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// delayed answers after its latency, and not at all to a client that hung up.
func TestDelayed(t *testing.T) {
	answered := make(chan struct{}, 2)
	h := delayed(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		answered <- struct{}{}
		w.WriteHeader(http.StatusTeapot)
	}), 50*time.Millisecond)

	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil))
	if rec.Code != http.StatusTeapot || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("status %d after %s", rec.Code, time.Since(start))
	}
	<-answered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil).WithContext(ctx))
	select {
	case <-answered:
		t.Fatal("a request whose client hung up was answered")
	default:
	}
}
