package e2e

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coorlog/coorlogprocessor/internal/demolog"
	"github.com/coorlog/coorlogprocessor/internal/fakellm"
	"github.com/coorlog/coorlogprocessor/internal/otlpsink"
)

// slowLLMEndToEnd: an LLM slower than pending.late_after. The records of the
// sessions it has not answered go out at once, route pending and not
// anomalous; each such session's final verdict follows in one record of its
// own (anomaly.late), and the final verdicts judge the evolved sessions as a
// fast LLM does.
func slowLLMEndToEnd(t *testing.T, bin, dir string, f fixture) {
	oracle := &fakellm.Oracle{}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(1500 * time.Millisecond):
			oracle.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
	llmSrv := httptest.NewServer(slow)
	defer llmSrv.Close()
	c := collectorRun{include: f.log, model: f.model, encoder: f.encoder, llm: llmSrv.URL + "/v1",
		extra: "    pending: {late_after: 300ms}"}.start(t, bin, dir, "slow_llm")

	// Done when every line is out and every pending session has its verdict.
	var recs, annotated []otlpsink.Record
	done := func() bool {
		recs, annotated = c.sink.Records(), nil
		pending, late := map[string]bool{}, map[string]int{}
		for _, r := range recs {
			id, _ := r.Attributes["anomaly.session.id"].(string)
			if r.Attributes["anomaly.late"] == true {
				late[id]++
				continue
			}
			annotated = append(annotated, r)
			if r.Attributes["anomaly.route"] == "pending" {
				pending[id] = true
			}
		}
		for id := range pending {
			if late[id] == 0 {
				return false
			}
		}
		return len(annotated) >= len(f.lines)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for !done() {
		select {
		case err := <-c.exited:
			t.Fatalf("the collector exited early (%v):\n%s", err, c.log())
		case <-time.After(200 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "records and late verdicts did not all arrive:\n%s", c.log())
	}
	c.stop()

	checkRecords(t, f, annotated) // every line once, each annotated
	sessions := otlpsink.Summarize(recs, "anomaly.", blockRE)
	lateN := 0
	for id, s := range sessions {
		if s.Late {
			lateN++
			assert.NotEqual(t, "pending", s.Route, "the late verdict of %s is final", id)
		}
		assert.NotEqual(t, "pending", s.Route, "session %s has its final verdict", id)
		assert.False(t, s.Mixed, "%s", id)
	}
	for _, r := range recs {
		if r.Attributes["anomaly.route"] == "pending" {
			assert.Equal(t, false, r.Attributes["anomaly.is_anomaly"], "a pending record is never an alarm")
		}
	}
	require.Positive(t, lateN, "the slow LLM left some sessions to a late verdict")
	k := byKind(f, sessions)
	ev := k[demolog.KindEvolved]
	t.Logf("slow LLM: %d requests, %d late verdicts; %+v %+v %+v", oracle.Requests(), lateN,
		*k[demolog.KindNormal], *k[demolog.KindAnomalous], *ev)
	assert.GreaterOrEqual(t, float64(ev.correct)/float64(ev.n), 0.85, "evolved sessions judged right, late verdicts counted")
}
