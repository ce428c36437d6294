package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/demolog"
	"github.com/coorlog/coorlogprocessor/internal/otlpsink"
)

// startWithFeedback runs the binary with the feedback endpoint on a free
// port and returns once the endpoint answers.
func startWithFeedback(t *testing.T, bin, dir, name, include, model, encoder string) *liveCollector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := collectorRun{include: include, model: model, encoder: encoder, feedback: addr}.start(t, bin, dir, name)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(c.feedback)
		if err == nil {
			resp.Body.Close()
			return c
		}
		select {
		case err := <-c.exited:
			t.Fatalf("the collector exited early (%v):\n%s", err, c.log())
		case <-time.After(200 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "the feedback endpoint never answered:\n%s", c.log())
	}
}

// sessions waits until every record of the sessions in want (id -> record
// count) has arrived, and returns their verdicts.
func (c *liveCollector) sessions(t *testing.T, want map[string]int) map[string]*otlpsink.Session {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := otlpsink.Summarize(c.sink.Records(), "anomaly.", blockRE)
		done := true
		for id, n := range want {
			if s := got[id]; s == nil || s.Records < n {
				done = false
			}
		}
		if done {
			return got
		}
		require.True(t, time.Now().Before(deadline), "sessions %v did not all arrive:\n%s", want, c.log())
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *liveCollector) post(t *testing.T, body map[string]any) (int, map[string]any) {
	t.Helper()
	p, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := http.Post(c.feedback, "application/json", bytes.NewReader(p))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// renamed is s with another block id (the session key), the same content.
func renamed(s dataset.Session, n int) dataset.Session {
	id := fmt.Sprintf("blk_%d", 7300000000000000000+n)
	out := dataset.Session{ID: id, Label: s.Label, Lines: make([]string, len(s.Lines))}
	for i, l := range s.Lines {
		out.Lines[i] = strings.ReplaceAll(l, s.ID, id)
	}
	return out
}

func writeSessions(t *testing.T, path string, ss ...dataset.Session) map[string]int {
	t.Helper()
	var b strings.Builder
	want := map[string]int{}
	for _, s := range ss {
		for _, l := range s.Lines {
			b.WriteString(l + "\n")
		}
		want[s.ID] = len(s.Lines)
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return want
}

// The feedback requirement through the real collector: an operator
// marks a flagged content normal and a passed one anomalous by session id
// over the feedback endpoint; later sessions of those contents follow the
// labels, and so do they after a restart, which lists the same feedback.
func feedbackEndToEnd(t *testing.T, bin, dir string, f fixture) {
	model := filepath.Join(dir, "feedback-model")
	require.NoError(t, os.CopyFS(model, os.DirFS(f.model)))
	logs := filepath.Join(dir, "feedback-logs")
	require.NoError(t, os.MkdirAll(logs, 0o755))

	// Run 1: the fixture's original sessions, then the labels, then the
	// same contents in new sessions.
	var originals []dataset.Session
	want := map[string]int{}
	for id, s := range f.truth {
		if s.Attributes[demolog.KindAttr] != demolog.KindEvolved {
			originals = append(originals, s)
			want[id] = len(s.Lines)
		}
	}
	c := startWithFeedback(t, bin, dir, "feedback-1", filepath.Join(logs, "run1-*.log"), model, f.encoder)
	writeSessions(t, filepath.Join(logs, "run1-a.log"), originals...)
	got := c.sessions(t, want)
	var flagged, passed *dataset.Session
	for i, s := range originals {
		v := got[s.ID]
		switch {
		case flagged == nil && v.Anomaly:
			flagged = &originals[i]
		case passed == nil && !v.Anomaly && s.Label == dataset.Normal:
			passed = &originals[i]
		}
	}
	require.NotNil(t, flagged, "a flagged session")
	require.NotNil(t, passed, "a passed session")

	code, out := c.post(t, map[string]any{"session_id": flagged.ID, "label": "normal", "reason": "expected during the failover drill"})
	require.Equal(t, http.StatusCreated, code, "%v\n%s", out, c.log())
	code, out = c.post(t, map[string]any{"session_id": passed.ID, "label": "anomalous", "reason": "this flow must never happen"})
	require.Equal(t, http.StatusCreated, code, "%v\n%s", out, c.log())
	code, out = c.post(t, map[string]any{"session_id": "blk_404", "label": "normal"})
	assert.Equal(t, http.StatusNotFound, code, "unknown session: %v", out)
	code, out = c.post(t, map[string]any{"session_id": flagged.ID, "label": "fine"})
	assert.Equal(t, http.StatusBadRequest, code, "bad label: %v", out)

	later := []dataset.Session{renamed(*flagged, 1), renamed(*passed, 2)}
	got = c.sessions(t, writeSessions(t, filepath.Join(logs, "run1-b.log"), later...))
	assert.False(t, got[later[0].ID].Anomaly, "content marked normal: %+v", got[later[0].ID])
	assert.True(t, got[later[1].ID].Anomaly, "content marked anomalous: %+v", got[later[1].ID])
	c.stop()

	// Run 2, after a restart on the same model directory.
	c = startWithFeedback(t, bin, dir, "feedback-2", filepath.Join(logs, "run2-*.log"), model, f.encoder)
	defer c.stop()
	resp, err := http.Get(c.feedback)
	require.NoError(t, err)
	var listed struct {
		Feedback []struct {
			ID        string `json:"id"`
			Action    string `json:"action"`
			SessionID string `json:"session_id"`
			Why       string `json:"why"`
		} `json:"feedback"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&listed))
	resp.Body.Close()
	require.Len(t, listed.Feedback, 2, "both labels survive the restart")
	assert.Equal(t, "normal", listed.Feedback[0].Action)
	assert.Equal(t, flagged.ID, listed.Feedback[0].SessionID)
	assert.Equal(t, "expected during the failover drill", listed.Feedback[0].Why)

	later = []dataset.Session{renamed(*flagged, 3), renamed(*passed, 4)}
	got = c.sessions(t, writeSessions(t, filepath.Join(logs, "run2-a.log"), later...))
	assert.False(t, got[later[0].ID].Anomaly, "after restart, content marked normal: %+v", got[later[0].ID])
	assert.True(t, got[later[1].ID].Anomaly, "after restart, content marked anomalous: %+v", got[later[1].ID])
}
