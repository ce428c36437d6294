package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
)

func TestSynthComposeLines(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run([]string{"synth", "--out", dir, "--sessions", "400", "--anomaly-rate", "0.2"}, &out))
	assert.Contains(t, out.String(), "test  "+filepath.Join(dir, "test.jsonl")+": 80 sessions (64 normal, 16 anomalous; synthetic)")

	// An "evolved" file: the test sessions marked as changed.
	test, err := dataset.ReadFile(filepath.Join(dir, "test.jsonl"))
	require.NoError(t, err)
	for i := range test {
		test[i].Attributes = map[string]string{dataset.EvolutionAttr: "changed-prefix"}
	}
	require.NoError(t, dataset.WriteFile(filepath.Join(dir, "evolved.jsonl"), test))

	out.Reset()
	logPath, truthPath := filepath.Join(dir, "hdfs.log"), filepath.Join(dir, "truth.jsonl")
	require.NoError(t, run([]string{"compose", "--test", filepath.Join(dir, "test.jsonl"), "--evolved", filepath.Join(dir, "evolved.jsonl"),
		"--normal", "10", "--anomalous", "4", "--evolved-sessions", "8", "--log", logPath, "--truth", truthPath}, &out))
	assert.Contains(t, out.String(), "normal 10 (0 anomalous); anomalous 4 (4 anomalous); evolved 8 (2 anomalous)")
	truth, err := dataset.ReadFile(truthPath)
	require.NoError(t, err)
	assert.Len(t, truth, 22)
	raw, err := os.ReadFile(logPath)
	require.NoError(t, err)
	n := 0
	for _, s := range truth {
		n += len(s.Lines)
	}
	assert.Equal(t, n, strings.Count(string(raw), "\n"))

	out.Reset()
	require.NoError(t, run([]string{"lines", "--out", filepath.Join(dir, "load.log"), "--sessions", "50", "--concurrent", "5"}, &out))
	assert.Contains(t, out.String(), "from 50 sessions")
}

func TestUsageErrors(t *testing.T) {
	var out bytes.Buffer
	assert.Error(t, run(nil, &out))
	assert.ErrorContains(t, run([]string{"bogus"}, &out), "unknown subcommand")
	assert.ErrorContains(t, run([]string{"synth"}, &out), "need --out")
	assert.ErrorContains(t, run([]string{"compose", "--test", "x"}, &out), "are required")
	assert.ErrorContains(t, run([]string{"compose", "--test", "/nonexistent", "--evolved", "y", "--log", "l", "--truth", "t"}, &out), "compose:")
}
