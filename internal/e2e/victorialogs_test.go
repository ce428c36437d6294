package e2e

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/demolog"
	"github.com/coorlog/coorlogprocessor/internal/fakellm"
	"github.com/coorlog/coorlogprocessor/internal/otlpsink"
	"github.com/coorlog/coorlogprocessor/internal/victorialogs"
)

// storeRecord turns a row of the store back into a sink record, with the
// types the collector sent: the anomaly.* numbers and flags must parse as
// such, or checkRecords rejects the record.
func storeRecord(row map[string]string) otlpsink.Record {
	r := otlpsink.Record{Body: row["_msg"], Attributes: map[string]any{}}
	for k, val := range row {
		if !strings.HasPrefix(k, "anomaly.") {
			continue
		}
		switch k {
		case "anomaly.score", "anomaly.reconstruction_error":
			if f, err := strconv.ParseFloat(val, 64); err == nil {
				r.Attributes[k] = f
				continue
			}
		case "anomaly.is_anomaly", "anomaly.evolved", "anomaly.summary":
			if b, err := strconv.ParseBool(val); err == nil {
				r.Attributes[k] = b
				continue
			}
		}
		r.Attributes[k] = val
	}
	return r
}

// TestCollectorToVictoriaLogs runs the real collector binary into a real
// VictoriaLogs (file_log -> coorlog with the oracle LLM -> otlp_http/
// victorialogs, plus the test's own OTLP sink) and checks through the
// store's query API alone that every line arrived once, unaltered, at its
// own timestamp, in its stream, with every anomaly.* attribute; that each
// session's verdict in the store is the one the collector sent; and that the
// anomalous sessions LogsQL finds there match the labels.
func TestCollectorToVictoriaLogs(t *testing.T) {
	if os.Getenv("COORLOG_E2E") != "1" {
		t.Skip("end-to-end test of the collector binary into VictoriaLogs (a few minutes): run scripts/e2e.sh, or set COORLOG_E2E=1")
	}
	root := repoRoot(t)
	bin := collectorBinary(t, root)
	vlBin := victorialogs.Binary(t, root)
	dir := t.TempDir()
	start := time.Now()
	f := buildFixture(t, root, dir)
	t.Logf("fixture (model and log) in %s", time.Since(start).Round(time.Second))
	vl := victorialogs.Start(t, vlBin, dir)

	oracle := &fakellm.Oracle{}
	llmSrv := httptest.NewServer(oracle)
	defer llmSrv.Close()
	// The common configuration with scripts/victorialogs-otelcol.yaml on
	// top, the overlay `make demo` uses: it adds the file_log operators that
	// give each record its line's own timestamp, the resource attributes
	// VictoriaLogs takes as stream fields, the otlp_http/victorialogs
	// exporter, and the pipeline's exporters (otlp_http into the test's sink,
	// otlp_http/victorialogs, debug).
	c := collectorRun{include: f.log, model: f.model, encoder: f.encoder, llm: llmSrv.URL + "/v1",
		overlay: filepath.Join(root, "scripts", "victorialogs-otelcol.yaml"),
		env:     []string{"COORLOG_DEMO_VL_ADDR=" + vl.Addr(), "COORLOG_DEMO_RUN=e2e"}}.start(t, bin, dir, "vl")
	sink := c.sink
	// The sink tells when the collector has sent everything; then SIGTERM,
	// which drains the exporters' queues, and a clean exit.
	c.stopAfter(t, len(f.lines))
	sent := time.Now()

	// Everything the collector sent is in the store.
	vl.WaitFor(t, "*", len(f.lines), 30*time.Second)
	t.Logf("records searchable in the store %s after the collector stopped", time.Since(sent).Round(time.Millisecond))

	// Record by record, as the store returns them.
	rows := vl.Query(t, "*")
	recs := make([]otlpsink.Record, len(rows))
	for i, row := range rows {
		recs[i] = storeRecord(row)
		// Its own time, not the time the file was read.
		line := row["_msg"]
		require.GreaterOrEqual(t, len(line), 13, "line %q", line)
		want, err := time.ParseInLocation("060102 150405", line[:13], time.UTC)
		require.NoError(t, err, "the HDFS timestamp of %q", line)
		got, err := time.Parse(time.RFC3339Nano, row["_time"])
		require.NoError(t, err, "_time of %q", line)
		require.True(t, want.Equal(got), "_time %s, want %s (the line's own timestamp): %q", got, want, line)
		require.Equal(t, `{coorlog.demo.run="e2e",service.name="hdfs"}`, row["_stream"], "stream of %q", line)
		require.NotContains(t, row, "hdfs_time", "the parser's temporary attribute is removed")
	}
	stored := checkRecords(t, f, recs) // every line once, unaltered, every anomaly.* attribute well formed

	// Each session's verdict in the store is the one the collector sent.
	sentSessions := otlpsink.Summarize(sink.Records(), "anomaly.", blockRE)
	require.Len(t, stored, len(sentSessions))
	for id, s := range stored {
		c := sentSessions[id]
		require.NotNil(t, c, id)
		assert.Equal(t, c.Anomaly, s.Anomaly, "verdict of %s", id)
		assert.Equal(t, c.Route, s.Route, "route of %s", id)
		assert.Equal(t, c.Evolved, s.Evolved, "evolved of %s", id)
		assert.InDelta(t, c.Score, s.Score, 1e-9, "score of %s", id)
		assert.Equal(t, c.Reason, s.Reason, "reason of %s", id)
	}

	// The queries of README's "Viewing results": anomalous sessions by
	// LogsQL, against the labels.
	found := map[string]int{}
	for _, row := range vl.Query(t, "anomaly.is_anomaly:true | stats by (anomaly.session.id) count() as records") {
		n, err := strconv.Atoi(row["records"])
		require.NoError(t, err)
		found[row["anomaly.session.id"]] = n
	}
	var tp, fp, fn []string
	for id, tr := range f.truth {
		n, flagged := found[id]
		switch {
		case flagged && tr.Label == dataset.Anomalous:
			tp = append(tp, id)
			assert.Equal(t, len(tr.Lines), n, "records of %s", id)
		case flagged:
			fp = append(fp, id)
		case tr.Label == dataset.Anomalous:
			fn = append(fn, id)
		}
	}
	for id := range found {
		_, ok := f.truth[id]
		assert.True(t, ok, "the store flags a session that is not in the log: %q", id)
	}
	sort.Strings(fp)
	sort.Strings(fn)
	k := byKind(f, stored)
	t.Logf("store: %d records, %d sessions; anomalous by LogsQL: %d (true %d, false %v, missed %v); by kind %+v %+v %+v; oracle requests %d",
		len(rows), len(stored), len(found), len(tp), fp, fn, *k[demolog.KindNormal], *k[demolog.KindAnomalous], *k[demolog.KindEvolved], oracle.Requests())
	precision := float64(len(tp)) / float64(len(tp)+len(fp))
	recall := float64(len(tp)) / float64(len(tp)+len(fn))
	assert.GreaterOrEqual(t, precision, 0.9, "precision of the anomalous sessions in the store")
	assert.GreaterOrEqual(t, recall, 0.9, "recall of the anomalous sessions in the store")
	for _, kind := range []string{demolog.KindNormal, demolog.KindAnomalous, demolog.KindEvolved} {
		assert.GreaterOrEqual(t, float64(k[kind].correct)/float64(k[kind].n), 0.85, "%s sessions judged right", kind)
	}

	// Per route, sessions and records, as the demo prints them.
	byRoute := map[string]int{}
	for _, s := range stored {
		if s.Anomaly {
			byRoute[s.Route]++
		}
	}
	gotRoute := map[string]int{}
	for _, row := range vl.Query(t, "anomaly.is_anomaly:true | stats by (anomaly.route) count_uniq(anomaly.session.id) as sessions") {
		n, err := strconv.Atoi(row["sessions"])
		require.NoError(t, err)
		gotRoute[row["anomaly.route"]] = n
	}
	assert.Equal(t, byRoute, gotRoute, "anomalous sessions per route")
	// An LLM verdict carries its reason into the store.
	assert.Positive(t, vl.Count(t, `anomaly.route:=llm anomaly.reason:*`), "LLM-judged records with anomaly.reason")
	// The time filter sees the logs' own days.
	assert.Equal(t, len(f.lines), vl.Count(t, "_time:[2008-01-01T00:00:00Z, 2009-01-01T00:00:00Z)"))
}
