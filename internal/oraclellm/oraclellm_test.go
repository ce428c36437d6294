package oraclellm

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/llm"
)

// The oracle answers the project's real LLM client: Evol Detect against the
// neighbours, then the AD prompt, each from the failure events in the session.
func TestOracleAnswersTheJudge(t *testing.T) {
	o := &Oracle{}
	srv := httptest.NewServer(o)
	defer srv.Close()
	cfg := llm.DefaultConfig()
	cfg.BaseURL, cfg.Model, cfg.MaxRetries = srv.URL+"/v1", "oracle", 0
	j, err := llm.New(cfg)
	require.NoError(t, err)

	normal := []string{"081109 203615 148 INFO dfs.DataNode$DataXceiver: Receiving block blk_1 src: /10.0.0.1:1 dest: /10.0.0.2:50010",
		"081109 203616 149 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_1 terminating"}
	failed := append(append([]string(nil), normal[0]),
		"081109 203616 150 INFO dfs.DataNode$DataXceiver: writeBlock blk_2 received exception java.io.IOException: Could not read from stream")
	nb := []model.Neighbour{{ID: "old", Lines: normal, Label: 0, Similarity: 0.9}}

	got, err := j.Judge(context.Background(), model.Session{ID: "new-normal", Lines: normal}, nb)
	require.NoError(t, err)
	assert.False(t, got.Anomaly)
	got, err = j.Judge(context.Background(), model.Session{ID: "new-failed", Lines: failed}, nb)
	require.NoError(t, err)
	assert.True(t, got.Anomaly)
	assert.Contains(t, got.Reason, "simulated LLM (oracle)")
	assert.Positive(t, o.Requests())
}

func TestOracleAnswersFromLabels(t *testing.T) {
	// Labels override the content: blk_1 is labelled anomalous although its
	// lines show no failure.
	o := &Oracle{Labels: map[string]int{"blk_1": 1}}
	srv := httptest.NewServer(o)
	defer srv.Close()
	cfg := llm.DefaultConfig()
	cfg.BaseURL, cfg.Model, cfg.MaxRetries = srv.URL+"/v1", "oracle", 0
	j, err := llm.New(cfg)
	require.NoError(t, err)
	lines := []string{"081109 203615 148 INFO dfs.DataNode$DataXceiver: Receiving block blk_1 src: /10.0.0.1:1 dest: /10.0.0.2:50010"}
	nb := []model.Neighbour{{ID: "old", Lines: []string{"081109 203615 148 INFO dfs.DataNode$DataXceiver: Receiving block blk_9 src: /10.0.0.1:1 dest: /10.0.0.2:50010"}, Label: 0, Similarity: 0.9}}
	got, err := j.Judge(context.Background(), model.Session{ID: "blk_1", Lines: lines}, nb)
	require.NoError(t, err)
	assert.True(t, got.Anomaly, "answered from the label, so the block id reached the prompt: %s", got.Reason)
}
