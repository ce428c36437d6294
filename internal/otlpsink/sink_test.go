package otlpsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

func sampleLogs(bodies ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "hdfs")
	sl := rl.ScopeLogs().AppendEmpty()
	for i, b := range bodies {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(b)
		lr.Attributes().PutStr("anomaly.session.id", "blk_1")
		lr.Attributes().PutBool("anomaly.is_anomaly", i == 0)
		lr.Attributes().PutDouble("anomaly.score", 0.5)
	}
	return ld
}

func post(t *testing.T, url, ctype, enc string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ctype)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestSinkAcceptsProtobufGzipAndJSON(t *testing.T) {
	var out bytes.Buffer
	sink := New(WithWriter(&out), WithMemory())
	srv := httptest.NewServer(sink.Handler())
	defer srv.Close()

	pb, err := plogotlp.NewExportRequestFromLogs(sampleLogs("a", "b")).MarshalProto()
	require.NoError(t, err)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(pb)
	require.NoError(t, zw.Close())
	resp := post(t, srv.URL+"/v1/logs", "application/x-protobuf", "gzip", gz.Bytes())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/x-protobuf", resp.Header.Get("Content-Type"))

	js, err := plogotlp.NewExportRequestFromLogs(sampleLogs("c")).MarshalJSON()
	require.NoError(t, err)
	resp = post(t, srv.URL+"/v1/logs", "application/json", "", js)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, sink.WaitRecords(ctx, 3))

	recs, err := ReadRecords(&out)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, []string{"a", "b", "c"}, []string{recs[0].Body, recs[1].Body, recs[2].Body})
	assert.Equal(t, "hdfs", recs[0].Resource["service.name"])
	assert.Equal(t, true, recs[0].Attributes["anomaly.is_anomaly"])
	assert.Equal(t, 0.5, recs[1].Attributes["anomaly.score"])
	assert.Len(t, sink.Records(), 3)
	st := sink.Stats()
	assert.Equal(t, 2, st.Requests)
	assert.Equal(t, 3, st.Records)
}

func TestSinkRejectsBadRequests(t *testing.T) {
	sink := New()
	srv := httptest.NewServer(sink.Handler())
	defer srv.Close()

	assert.Equal(t, http.StatusUnsupportedMediaType, post(t, srv.URL+"/v1/logs", "text/plain", "", []byte("x")).StatusCode)
	assert.Equal(t, http.StatusUnsupportedMediaType, post(t, srv.URL+"/v1/logs", "application/json", "br", []byte("x")).StatusCode)
	assert.Equal(t, http.StatusBadRequest, post(t, srv.URL+"/v1/logs", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}).StatusCode)
	assert.Equal(t, http.StatusBadRequest, post(t, srv.URL+"/v1/logs", "application/json", "", []byte("{not json")).StatusCode)
	assert.Equal(t, http.StatusBadRequest, post(t, srv.URL+"/v1/logs", "application/json", "gzip", []byte("not gzip")).StatusCode)
	assert.Equal(t, 5, sink.Stats().Errors)
	assert.Equal(t, 0, sink.Stats().Records)
}

func TestReportScoresSessions(t *testing.T) {
	recs := []Record{
		{Attributes: map[string]any{"a.session.id": "s1", "a.is_anomaly": true, "a.route": "small_model"}},
		{Attributes: map[string]any{"a.session.id": "s1", "a.is_anomaly": true, "a.route": "small_model"}},
		{Attributes: map[string]any{"a.session.id": "s2", "a.is_anomaly": false, "a.route": "fallback", "a.evolved": true}},
		{Attributes: map[string]any{"a.session.id": "s3", "a.is_anomaly": true, "a.route": "llm"}},
		{Attributes: map[string]any{"a.session.id": "s4", "a.is_anomaly": false, "a.route": "cache"}},
		{Attributes: map[string]any{"a.session.id": "s1", "a.is_anomaly": true, "a.route": "small_model", "a.summary": true}},
	}
	sessions := Summarize(recs, "a.", nil)
	require.Len(t, sessions, 4)
	assert.Equal(t, 2, sessions["s1"].Records)
	assert.Equal(t, 1, sessions["s1"].Summaries)
	assert.True(t, sessions["s2"].Evolved)

	truth := map[string]Truth{
		"s1": {Label: 1, Kind: "anomalous"},
		"s2": {Label: 1, Kind: "evolved"},
		"s3": {Label: 0, Kind: "normal"},
		"s4": {Label: 0, Kind: "normal"},
		"s5": {Label: 0, Kind: "normal"},
	}
	sc := Score(sessions, truth)
	assert.Equal(t, Scores{TP: 1, FP: 1, TN: 1, FN: 1, Missing: 1}, sc)
	assert.InDelta(t, 0.5, sc.F1(), 1e-9)

	var buf bytes.Buffer
	require.NoError(t, WriteReport(&buf, sessions, truth, 0))
	out := buf.String()
	assert.Contains(t, out, "routes: cache=1 fallback=1 llm=1 small_model=1")
	assert.Contains(t, out, "evolved    0/1 correct")
	// Wrong verdicts are listed first.
	lines := strings.Split(out, "\n")
	assert.Contains(t, lines[1], "NO")
}

// A late verdict replaces the provisional (pending) one of its session and is
// not one of the session's records.
func TestSummarizeTakesLateVerdicts(t *testing.T) {
	rec := func(id, route string, anomaly, late bool) Record {
		a := map[string]any{"a.session.id": id, "a.route": route, "a.is_anomaly": anomaly}
		if late {
			a["a.late"] = true
		}
		return Record{Attributes: a}
	}
	got := Summarize([]Record{
		rec("s1", "pending", false, false), rec("s1", "pending", false, false), rec("s1", "llm", true, true),
		rec("s2", "llm", false, true), rec("s2", "pending", false, false), // the verdict's record first
		rec("s3", "small_model", false, false),
	}, "a.", nil)
	if s := got["s1"]; !s.Late || s.Route != "llm" || !s.Anomaly || s.Records != 2 || s.Mixed {
		t.Fatalf("s1 %+v", *s)
	}
	if s := got["s2"]; !s.Late || s.Route != "llm" || s.Anomaly || s.Records != 1 || s.Mixed {
		t.Fatalf("s2 %+v", *s)
	}
	if s := got["s3"]; s.Late || s.Records != 1 {
		t.Fatalf("s3 %+v", *s)
	}
}

func TestSinkWithoutWriterOnlyCounts(t *testing.T) {
	sink := New()
	srv := httptest.NewServer(sink.Handler())
	defer srv.Close()

	pb, err := plogotlp.NewExportRequestFromLogs(sampleLogs("a", "b", "c")).MarshalProto()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, post(t, srv.URL+"/v1/logs", "application/x-protobuf", "", pb).StatusCode)
	empty, err := plogotlp.NewExportRequestFromLogs(plog.NewLogs()).MarshalProto()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, post(t, srv.URL+"/v1/logs", "application/x-protobuf", "", empty).StatusCode)

	st := sink.Stats()
	assert.Equal(t, 2, st.Requests)
	assert.Equal(t, 3, st.Records)
	assert.False(t, st.First.IsZero())
	assert.Equal(t, st.First, st.Last, "a request without records does not move Last")
	assert.Empty(t, sink.Records(), "nothing is kept without WithMemory")
}

// The compact records of a session judged normal carry is_anomaly alone: they
// join their session by the key in their body, the verdict is the full
// record's, wherever it stands, and they only have to agree on is_anomaly.
// Without a key they are counted under "".
func TestSummarizeReadsCompactSessions(t *testing.T) {
	compact := func(block string, anomaly bool) Record {
		return Record{Body: "line of " + block + " done", Attributes: map[string]any{"a.is_anomaly": anomaly}}
	}
	full := func(id, route string, score float64) Record {
		return Record{Body: "line of " + id, Attributes: map[string]any{"a.session.id": id, "a.is_anomaly": false, "a.route": route, "a.score": score}}
	}
	recs := []Record{
		full("blk_1", "small_model", 0.1), compact("blk_1", false), compact("blk_1", false),
		compact("blk_2", false), full("blk_2", "cache", 0.2),
		full("blk_3", "llm", 0.3), compact("blk_3", true),
	}
	for _, key := range []string{`blk_\d+`, `of (blk_\d+) `} { // whole match, or the first group
		sessions := Summarize(recs, "a.", regexp.MustCompile(key))
		require.Len(t, sessions, 3, key)
		assert.Equal(t, Session{ID: "blk_1", Route: "small_model", Score: 0.1, Records: 3}, *sessions["blk_1"], key)
		assert.Equal(t, Session{ID: "blk_2", Route: "cache", Score: 0.2, Records: 2}, *sessions["blk_2"], key)
		assert.True(t, sessions["blk_3"].Mixed, "a compact record that disagrees on is_anomaly")
	}
	unkeyed := Summarize(recs, "a.", nil)
	require.Len(t, unkeyed, 4)
	assert.Equal(t, 4, unkeyed[""].Records, "records without a session id, without a key")
	assert.Equal(t, 1, unkeyed["blk_1"].Records)
}
