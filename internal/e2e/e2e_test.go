// Package e2e runs the real collector distribution (bin/otelcol-coorlog) on
// raw HDFS lines: file_log -> coorlog -> otlp_http into an OTLP receiver run
// by the test, and checks what arrives per session against the labels.
//
// The binary comes from $COORLOG_OTELCOL or bin/otelcol-coorlog (`make
// otelcol`); with COORLOG_E2E_BUILD=1 the test builds it when it is missing.
// It runs only with COORLOG_E2E=1 (scripts/e2e.sh sets it after building the
// binary), so that `go test ./...` stays fast and never tests a stale binary;
// without a binary it skips and says how to get one.
package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/demolog"
	"github.com/coorlog/coorlogprocessor/internal/e2efixture"
	"github.com/coorlog/coorlogprocessor/internal/fakellm"
	"github.com/coorlog/coorlogprocessor/internal/otlpsink"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatal("no go.mod above the working directory")
		}
	}
}

func collectorBinary(t *testing.T, root string) string {
	t.Helper()
	if p := os.Getenv("COORLOG_OTELCOL"); p != "" {
		return p
	}
	p := filepath.Join(root, "bin", "otelcol-coorlog")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("COORLOG_E2E_BUILD") != "1" {
		t.Skip("bin/otelcol-coorlog is not built: run `make otelcol` (or scripts/e2e.sh), or set COORLOG_E2E_BUILD=1 to build it here")
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "otelcol.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "SKIP_SMOKE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("the collector builder could not run here (%v):\n%s", err, tail(string(out), 2000))
	}
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// fixture is a trained model and a demo log, shared by the subtests.
type fixture struct {
	model   string
	encoder string // "" = the embedded default
	log     string
	lines   []string
	truth   map[string]dataset.Session
}

func buildFixture(t *testing.T, root, dir string) fixture {
	t.Helper()
	m := e2efixture.Train(t, root, dir)
	lines, truth, err := demolog.Compose(m.Test, m.Evolved, demolog.Options{Normal: 40, Anomalous: 12, Evolved: 24, Seed: 3})
	require.NoError(t, err)
	logPath := filepath.Join(dir, "hdfs.log")
	require.NoError(t, os.WriteFile(logPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	f := fixture{model: m.Dir, encoder: m.Encoder, log: logPath, lines: lines, truth: map[string]dataset.Session{}}
	for _, s := range truth {
		f.truth[s.ID] = s
	}
	return f
}

const configTemplate = `
receivers:
  file_log:
    include: [%q]
    start_at: beginning
processors:
  coorlog:
    model_path: %q
    encoder:
      path: %q
    session:
      key: {source: body_regex, regex: 'blk_-?\d+'}
      missing_key: pass_through
      inactivity_timeout: 1s
    workers: 2
    llm:
      endpoint: %q
      model: oracle
      max_retries: 0
    feedback:
      endpoint: %q
%s
exporters:
  otlp_http:
    endpoint: %q
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [file_log]
      processors: [coorlog]
      exporters: [otlp_http]
`

// collectorRun is one run of the collector binary with its sink.
type collectorRun struct {
	include, model, encoder string
	llm                     string // LLM endpoint; "" = none
	feedback                string // feedback endpoint (host:port); "" = off
	extra                   string // more coorlog settings, YAML indented by 4 spaces
	overlay                 string // a second --config on top (e.g. scripts/victorialogs-otelcol.yaml); "" = none
	env                     []string
}

// liveCollector is a running collector with its sink.
type liveCollector struct {
	sink     *otlpsink.Sink
	feedback string        // the feedback URL, when on
	exited   chan error    // the process's exit
	log      func() string // the tail of its log
	stop     func()        // SIGTERM, then require a clean exit
}

// start runs the binary on r's configuration, writing NAME.yaml and
// NAME.log in dir.
func (r collectorRun) start(t *testing.T, bin, dir, name string) *liveCollector {
	t.Helper()
	sink := otlpsink.New(otlpsink.WithMemory())
	srv := httptest.NewServer(sink.Handler())
	cfg := filepath.Join(dir, name+".yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(configTemplate, r.include, r.model, r.encoder, r.llm, r.feedback, r.extra, srv.URL)), 0o644))
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	require.NoError(t, err)
	args := []string{"--config", cfg}
	if r.overlay != "" {
		args = append(args, "--config", r.overlay)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	c := &liveCollector{sink: sink, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait() }()
	c.log = func() string { b, _ := os.ReadFile(logf.Name()); return tail(string(b), 4000) }
	if r.feedback != "" {
		c.feedback = "http://" + r.feedback + "/v1/feedback"
	}
	c.stop = func() {
		t.Helper()
		defer srv.Close()
		defer logf.Close()
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		select {
		case err := <-c.exited:
			require.NoError(t, err, "the collector must stop cleanly:\n%s", c.log())
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("the collector did not stop within 30s of SIGTERM:\n%s", c.log())
		}
		assert.Contains(t, c.log(), "Shutdown complete")
	}
	return c
}

// runCollector runs the binary until every line has come back, then stops
// it with SIGTERM and requires a clean exit.
func runCollector(t *testing.T, bin, dir, name string, f fixture, llmEndpoint string) []otlpsink.Record {
	t.Helper()
	c := collectorRun{include: f.log, model: f.model, encoder: f.encoder, llm: llmEndpoint}.start(t, bin, dir, name)
	c.stopAfter(t, len(f.lines))
	return c.sink.Records()
}

// stopAfter waits until the sink holds n records (3 min at most; the
// collector must not exit before), then stops the collector (stop).
func (c *liveCollector) stopAfter(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.sink.WaitRecords(ctx, n) }()
	select {
	case err := <-waitErr:
		require.NoError(t, err, "collector log:\n%s", c.log())
	case err := <-c.exited:
		t.Fatalf("the collector exited early (%v):\n%s", err, c.log())
	}
	c.stop()
}

var blockRE = regexp.MustCompile(`blk_-?\d+`)

// checkRecords verifies the record-level contract and returns the sessions.
func checkRecords(t *testing.T, f fixture, recs []otlpsink.Record) map[string]*otlpsink.Session {
	t.Helper()
	// Every line arrives exactly once, unaltered.
	want := map[string]int{}
	for _, l := range f.lines {
		want[l]++
	}
	for _, r := range recs {
		want[r.Body]--
	}
	for l, n := range want {
		require.Zero(t, n, "line received %d times too few: %s", n, l)
	}
	require.Len(t, recs, len(f.lines))

	routes := map[string]bool{"small_model": true, "llm": true, "cache": true, "fallback": true, "pending": true}
	for _, r := range recs {
		a := r.Attributes
		anomalous, ok := a["anomaly.is_anomaly"].(bool)
		require.True(t, ok, "anomaly.is_anomaly is a bool: %v", a)
		if _, full := a["anomaly.route"]; !full {
			// attributes: compact (the default): a later record of a session judged normal.
			require.False(t, anomalous, "an anomalous session carries the whole verdict on every record: %v", a)
			n := 0
			for k := range a {
				if strings.HasPrefix(k, "anomaly.") {
					n++
				}
			}
			require.Equal(t, 1, n, "a compact record: is_anomaly alone: %v", a)
			continue
		}
		require.Equal(t, blockRE.FindString(r.Body), a["anomaly.session.id"], "session id of %q", r.Body)
		score, ok := a["anomaly.score"].(float64)
		require.True(t, ok, "anomaly.score is a double: %v", a)
		require.True(t, score >= 0 && score <= 1, "score %v in [0,1]", score)
		_, ok = a["anomaly.evolved"].(bool)
		require.True(t, ok, "anomaly.evolved is a bool: %v", a)
		require.True(t, routes[fmt.Sprint(a["anomaly.route"])], "route %v", a["anomaly.route"])
		rec, ok := a["anomaly.reconstruction_error"].(float64)
		require.True(t, ok && rec >= 0, "reconstruction_error %v", a["anomaly.reconstruction_error"])
		require.NotEmpty(t, a["anomaly.model.version"])
	}
	sessions := otlpsink.Summarize(recs, "anomaly.", blockRE)
	require.Len(t, sessions, len(f.truth))
	for id, s := range sessions {
		tr, ok := f.truth[id]
		require.True(t, ok, "unexpected session %s", id)
		assert.Equal(t, len(tr.Lines), s.Records, "records of %s", id)
		assert.False(t, s.Mixed, "every record of %s carries the same verdict", id)
		assert.NotEmpty(t, s.Route, "a record of %s carries the whole verdict", id)
	}
	return sessions
}

type tally struct{ n, correct, evolved int }

func byKind(f fixture, sessions map[string]*otlpsink.Session) map[string]*tally {
	out := map[string]*tally{}
	for id, s := range sessions {
		tr := f.truth[id]
		k := tr.Attributes[demolog.KindAttr]
		if out[k] == nil {
			out[k] = &tally{}
		}
		out[k].n++
		if s.Anomaly == (tr.Label == dataset.Anomalous) {
			out[k].correct++
		}
		if s.Evolved {
			out[k].evolved++
		}
	}
	return out
}

func TestCollectorEndToEnd(t *testing.T) {
	if os.Getenv("COORLOG_E2E") != "1" {
		t.Skip("end-to-end test of the collector binary (a few minutes): run scripts/e2e.sh, or set COORLOG_E2E=1")
	}
	root := repoRoot(t)
	bin := collectorBinary(t, root)
	dir := t.TempDir()
	f := buildFixture(t, root, dir)

	t.Run("no_llm", func(t *testing.T) {
		recs := runCollector(t, bin, dir, "no_llm", f, "")
		sessions := checkRecords(t, f, recs)
		k := byKind(f, sessions)
		for id, s := range sessions {
			// Without an LLM an evolved session keeps the small model's
			// verdict, marked fallback; the others are the small model's.
			if s.Evolved {
				assert.Equal(t, "fallback", s.Route, id)
			} else {
				assert.Contains(t, []string{"small_model", "cache"}, s.Route, id)
			}
		}
		t.Logf("no LLM: %+v %+v %+v", *k[demolog.KindNormal], *k[demolog.KindAnomalous], *k[demolog.KindEvolved])
		// The small model knows the old version: original sessions are judged
		// right, and the coordinator sees more evolution in evolved sessions.
		orig := k[demolog.KindNormal].correct + k[demolog.KindAnomalous].correct
		assert.GreaterOrEqual(t, float64(orig)/float64(k[demolog.KindNormal].n+k[demolog.KindAnomalous].n), 0.9)
		assert.Greater(t, float64(k[demolog.KindEvolved].evolved)/float64(k[demolog.KindEvolved].n),
			float64(k[demolog.KindNormal].evolved)/float64(k[demolog.KindNormal].n))
	})

	t.Run("oracle_llm", func(t *testing.T) {
		oracle := &fakellm.Oracle{}
		llmSrv := httptest.NewServer(oracle)
		defer llmSrv.Close()
		recs := runCollector(t, bin, dir, "oracle_llm", f, llmSrv.URL+"/v1")
		sessions := checkRecords(t, f, recs)
		k := byKind(f, sessions)
		llmRoutes := 0
		for id, s := range sessions {
			if s.Evolved {
				assert.Contains(t, []string{"llm", "cache"}, s.Route, id)
				if s.Route == "llm" {
					llmRoutes++
					assert.NotEmpty(t, s.Reason, "an LLM verdict carries its reason (%s)", id)
				}
			}
		}
		t.Logf("oracle LLM: %d requests, %d sessions routed to it; %+v %+v %+v", oracle.Requests(), llmRoutes,
			*k[demolog.KindNormal], *k[demolog.KindAnomalous], *k[demolog.KindEvolved])
		require.Positive(t, llmRoutes, "evolved sessions reach the LLM")
		require.Positive(t, oracle.Requests())
		// With an LLM on the evolved path, evolved sessions are judged right too.
		ev := k[demolog.KindEvolved]
		assert.GreaterOrEqual(t, float64(ev.correct)/float64(ev.n), 0.85, "evolved sessions judged right")
	})

	t.Run("operator_feedback", func(t *testing.T) { feedbackEndToEnd(t, bin, dir, f) })
	t.Run("slow_llm", func(t *testing.T) { slowLLMEndToEnd(t, bin, dir, f) })
}
