package coorlogprocessor

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/demolog"
	"github.com/coorlog/coorlogprocessor/internal/fakellm"
	"github.com/coorlog/coorlogprocessor/internal/metadata"
	"github.com/coorlog/coorlogprocessor/internal/victorialogs"
)

// blockID is the session key of the HDFS test sessions (detectConfig's).
var blockID = regexp.MustCompile(`blk_-?\d+`)

// storeExporter is the pipeline's exporter in TestBackendVictoriaLogs: each
// batch goes to the store as OTLP/HTTP protobuf, as the collector's
// otlp_http exporter sends it, and is kept to compare with what the store
// returns.
type storeExporter struct {
	consumertest.LogsSink
	store *victorialogs.Store
}

func (e *storeExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if err := e.store.Export(ctx, ld); err != nil {
		return err
	}
	return e.LogsSink.ConsumeLogs(ctx, ld)
}

// TestBackendVictoriaLogs runs the component into a real VictoriaLogs store
// and checks, through the store's LogsQL API alone, that every record
// arrived once at its own time with the annotation, and that the anomalous
// sessions LogsQL finds are those the processor flagged, against the labels.
// (`make e2e` runs the collector binary's otlp_http exporter into the same
// store: internal/e2e's TestCollectorToVictoriaLogs.)
func TestBackendVictoriaLogs(t *testing.T) {
	store := victorialogs.Start(t, victorialogs.Binary(t, "."), t.TempDir())
	dir, _ := trainedModelDir(t)
	sessions := demolog.Synthesize(40, 0.25, 99) // not the training sessions (seed 5)

	// The demo's oracle LLM (answers from the failure events in the prompt;
	// not a model of LLM accuracy) judges the sessions the coordinator
	// finds evolved.
	oracle := fakellm.Start(t, &fakellm.Oracle{}, false)
	cfg := detectConfig(dir)
	cfg.LLM.Endpoint = oracle.URL + "/v1"
	cfg.LLM.Model = "oracle"
	cfg.Session.MaxRecords = 1000
	cfg.Session.InactivityTimeout = 200 * time.Millisecond // each session ends, none is cut off
	exp := &storeExporter{store: store}
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, exp)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))

	// The records, interleaved as a log file has them, each at its line's
	// own time.
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "hdfs")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	lines := 0
	truth := map[string]dataset.Session{}
	for i := 0; ; i++ {
		added := false
		for _, s := range sessions {
			if i < len(s.Lines) {
				r := lrs.AppendEmpty()
				r.Body().SetStr(s.Lines[i])
				ts, err := time.ParseInLocation("060102 150405", s.Lines[i][:13], time.UTC)
				require.NoError(t, err)
				r.SetTimestamp(pcommon.NewTimestampFromTime(ts))
				lines++
				added = true
			}
			truth[s.ID] = s
		}
		if !added {
			break
		}
	}
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.Eventually(t, func() bool { return exp.LogRecordCount() == lines }, 60*time.Second, 20*time.Millisecond,
		"records exported")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Shutdown(ctx))

	require.Equal(t, lines, store.WaitFor(t, "*", lines, 30*time.Second), "every record is in the store")

	// What the processor sent, per session.
	sent := map[string]bool{} // session id -> anomalous
	for _, ld := range exp.AllLogs() {
		rs := ld.ResourceLogs()
		for i := 0; i < rs.Len(); i++ {
			ss := rs.At(i).ScopeLogs()
			for j := 0; j < ss.Len(); j++ {
				recs := ss.At(j).LogRecords()
				for k := 0; k < recs.Len(); k++ {
					a := recs.At(k).Attributes()
					id, ok := a.Get("anomaly.session.id")
					if !ok {
						continue // attributes: compact: a later record of a session judged normal
					}
					an, _ := a.Get("anomaly.is_anomaly")
					sent[id.Str()] = an.Bool()
				}
			}
		}
	}
	require.Len(t, sent, len(sessions))

	// Record by record, as the store returns them.
	want := map[string]int{}
	for _, s := range sessions {
		for _, l := range s.Lines {
			want[l]++
		}
	}
	fullRows := map[string]int{} // session id -> records with the whole verdict
	for _, row := range store.Query(t, "*") {
		line := row["_msg"]
		require.Positive(t, want[line], "a record the store holds once too often, or never sent: %q", line)
		want[line]--
		ts, _ := time.ParseInLocation("060102 150405", line[:13], time.UTC)
		got, err := time.Parse(time.RFC3339Nano, row["_time"])
		require.NoError(t, err)
		require.True(t, ts.Equal(got), "_time %s, want the line's own %s", got, ts)
		assert.Equal(t, `{service.name="hdfs"}`, row["_stream"])
		id, ok := row["anomaly.session.id"]
		if !ok { // attributes: compact: a later record of a session judged normal
			id = blockID.FindString(line)
		}
		require.Contains(t, truth, id, "session id of %q", line)
		anomalous, err := strconv.ParseBool(row["anomaly.is_anomaly"])
		require.NoError(t, err, "anomaly.is_anomaly of %q", line)
		assert.Equal(t, sent[id], anomalous, "verdict of %q", line)
		assert.NotContains(t, row, "anomaly.session.partial", "sessions ended on their own")
		if _, ok := row["anomaly.route"]; !ok {
			// attributes: compact: a later record of a session judged normal.
			assert.False(t, anomalous, "an anomalous session carries the whole verdict on every record: %q", line)
			assert.NotContains(t, row, "anomaly.score")
			assert.NotContains(t, row, "anomaly.session.id")
			continue
		}
		fullRows[id]++
		score, err := strconv.ParseFloat(row["anomaly.score"], 64)
		require.NoError(t, err, "anomaly.score of %q", line)
		assert.True(t, score >= 0 && score <= 1, "score %v", score)
		_, err = strconv.ParseFloat(row["anomaly.reconstruction_error"], 64)
		require.NoError(t, err, "anomaly.reconstruction_error of %q", line)
		assert.Contains(t, []string{"small_model", "cache", "llm"}, row["anomaly.route"], "route of %q", line)
		assert.Contains(t, row["anomaly.model.version"], "test-bundle-1")
	}
	// The whole verdict: on every record of an anomalous session, on one of a normal one.
	for _, s := range sessions {
		want := 1
		if sent[s.ID] {
			want = len(s.Lines)
		}
		assert.Equal(t, want, fullRows[s.ID], "records of %s with the whole verdict", s.ID)
	}

	// README's "Viewing results" query: the anomalous sessions, each with
	// all its records, are those the processor flagged.
	found := map[string]int{}
	for _, row := range store.Query(t, "anomaly.is_anomaly:true | stats by (anomaly.session.id) count() as records") {
		n, err := strconv.Atoi(row["records"])
		require.NoError(t, err)
		found[row["anomaly.session.id"]] = n
	}
	var tp, fp, fn int
	for id, s := range truth {
		n, flagged := found[id]
		assert.Equal(t, sent[id], flagged, "session %s in the store", id)
		if flagged {
			assert.Equal(t, len(s.Lines), n, "records of %s", id)
		}
		switch {
		case flagged && s.Label == dataset.Anomalous:
			tp++
		case flagged:
			fp++
		case s.Label == dataset.Anomalous:
			fn++

		}
	}
	t.Logf("store: %d records, %d sessions, %d flagged by LogsQL: tp %d fp %d fn %d", lines, len(sent), len(found), tp, fp, fn)
	// Against the labels: the test bundle is trained in a second on the
	// fixture encoder's random weights, so its small model misses some
	// anomalous sessions of another seed (3 of 10 here); the oracle LLM gets
	// the evolved ones right. The full check with the trained encoder is
	// TestCollectorToVictoriaLogs (make e2e): precision and recall >= 0.9.
	assert.GreaterOrEqual(t, float64(tp)/float64(tp+fp), 0.9, "precision of the anomalous sessions in the store")
	assert.GreaterOrEqual(t, float64(tp)/float64(tp+fn), 0.5, "recall of the anomalous sessions in the store")
}
