package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReport(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "received.jsonl")
	require.NoError(t, os.WriteFile(in, []byte(`{"body":"a blk_1","attributes":{"anomaly.session.id":"blk_1","anomaly.is_anomaly":true,"anomaly.route":"llm","anomaly.score":0.9}}
{"body":"b blk_2","attributes":{"anomaly.session.id":"blk_2","anomaly.is_anomaly":false,"anomaly.route":"small_model","anomaly.score":0.1}}
`), 0o644))
	truth := filepath.Join(dir, "truth.jsonl")
	require.NoError(t, os.WriteFile(truth, []byte(`{"id":"blk_1","label":1,"lines":["a blk_1"],"attributes":{"kind":"evolved"}}
{"id":"blk_2","label":0,"lines":["b blk_2"]}
`), 0o644))
	var out bytes.Buffer
	require.NoError(t, run([]string{"report", "-in", in, "-truth", truth}, &out))
	assert.Contains(t, out.String(), "routes: llm=1 small_model=1")
	assert.Contains(t, out.String(), "evolved    1/1 correct")
	assert.Contains(t, out.String(), "precision 1.000  recall 1.000  F1 1.000")

	assert.ErrorContains(t, run([]string{"report"}, &out), "-in is required")
	require.NoError(t, os.WriteFile(in, []byte("{broken\n"), 0o644))
	assert.ErrorContains(t, run([]string{"report", "-in", in}, &out), "line 1")
}

func TestPlot(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tsv"), filepath.Join(dir, "b.tsv")
	require.NoError(t, os.WriteFile(a, []byte("0 0\n0.5 100\n1 300\n"), 0o644))
	require.NoError(t, os.WriteFile(b, []byte("0 0\n\n1 50\n2 300\n"), 0o644))
	png := filepath.Join(dir, "out", "timeline.png")
	var out bytes.Buffer
	require.NoError(t, run([]string{"plot", "-out", png, "-title", "t", "without=" + a, "with=" + b}, &out))
	got, err := os.ReadFile(png)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(got, []byte("\x89PNG\r\n")), "not a PNG")

	assert.ErrorContains(t, run([]string{"plot", "without=" + a}, &out), "-out and at least one")
	assert.ErrorContains(t, run([]string{"plot", "-out", png, a}, &out), "is not NAME=FILE")
	assert.ErrorContains(t, run([]string{"plot", "-out", png, "x=" + filepath.Join(dir, "missing")}, &out), "missing")
	require.NoError(t, os.WriteFile(a, []byte("0 0\n1 2 3\n"), 0o644))
	assert.ErrorContains(t, run([]string{"plot", "-out", png, "x=" + a}, &out), "line 2")
	require.NoError(t, os.WriteFile(a, []byte("0 zero\n"), 0o644))
	assert.ErrorContains(t, run([]string{"plot", "-out", png, "x=" + a}, &out), "line 1")
	require.NoError(t, os.WriteFile(a, []byte("\n"), 0o644))
	assert.ErrorContains(t, run([]string{"plot", "-out", png, "x=" + a}, &out), "no points")
}
