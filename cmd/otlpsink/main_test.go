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
