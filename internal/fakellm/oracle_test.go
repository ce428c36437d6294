package fakellm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coorlog/coorlogprocessor/internal/simdraw"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/llm"
	"github.com/coorlog/coorlogprocessor/model/normalize"
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

// With ByContent the wrong answers follow the content: two sessions with the
// same lines (other keys, other ids) always get the same answer, and about
// 1-Accuracy of the contents are answered wrong.
func TestOracleByContentFollowsTheContent(t *testing.T) {
	o := &Oracle{Labels: map[string]int{}, Accuracy: 0.7, Seed: 3, KeyRE: regexp.MustCompile(`cid:(\d+)`), ByContent: true}
	section := func(cid, content int) string {
		var b strings.Builder
		b.WriteString("### NEW SESSION: 2 lines\n")
		for _, l := range []string{
			fmt.Sprintf("[1] 2026/12/02 10:00:00.000001 [DBG] 127.0.0.1:5%04d - cid:%d - Client connection created", cid, cid),
			fmt.Sprintf("[1] 2026/12/02 10:00:00.000002 [DBG] 127.0.0.1:5%04d - cid:%d - event %s", cid, cid, word(content)),
		} {
			q, _ := json.Marshal(l)
			b.Write(q)
			b.WriteByte('\n')
		}
		return b.String()
	}
	wrong := 0
	const contents = 400
	for c := range contents {
		a, b := 2*c, 2*c+1 // two connections with the same content
		o.Labels[fmt.Sprint(a)], o.Labels[fmt.Sprint(b)] = 1, 1
		ra, rb := o.abnormal(section(a, c)), o.abnormal(section(b, c))
		require.Equal(t, ra, rb, "content %d: the same content got two answers", c)
		if !ra {
			wrong++
		}
	}
	assert.InDelta(t, 0.3, float64(wrong)/contents, 0.07, "share of contents answered wrong")
	// A key absent from the labels: the failure events decide.
	assert.False(t, o.abnormal(section(99999, 1)))
}

// With Contents, the draw follows the whole session's content key, not the
// lines the prompt shows: two prompts with other lines but one content key
// get one answer, and the answer is simdraw's for that key (the draw of
// coorlog eval's simulated-content LLM).
func TestOracleByContentUsesTheGivenContents(t *testing.T) {
	o := &Oracle{Labels: map[string]int{}, Contents: map[string]string{}, Accuracy: 0.5, Seed: 7,
		KeyRE: regexp.MustCompile(`cid:(\d+)`), ByContent: true}
	section := func(cid int, event string) string {
		l := fmt.Sprintf("[1] 2026/12/02 10:00:00.000001 [DBG] 127.0.0.1:5%04d - cid:%d - %s", cid, cid, event)
		q, _ := json.Marshal(l)
		return "### NEW SESSION: 1 lines\n" + string(q) + "\n"
	}
	differ := 0
	for c := range 200 {
		key := fmt.Sprintf("content-%d", c)
		a, b := 2*c, 2*c+1
		o.Labels[fmt.Sprint(a)], o.Labels[fmt.Sprint(b)] = 1, 1
		o.Contents[fmt.Sprint(a)], o.Contents[fmt.Sprint(b)] = key, key
		ra, rb := o.abnormal(section(a, "event "+word(c))), o.abnormal(section(b, "other "+word(c+1000)))
		require.Equal(t, ra, rb, "content %d: one content key, two answers", c)
		require.Equal(t, simdraw.Right(7, key, 0.5), ra, "content %d: not the shared draw", c)
		if ra != simdraw.Right(7, normalize.ContentKey([]string{section(a, "event "+word(c))}), 0.5) {
			differ++
		}
	}
	assert.Positive(t, differ, "the prompt's own lines would have drawn the same answers: the test cannot tell the keys apart")
}

// word spells n in letters: the normaliser masks digits, not words.
func word(n int) string {
	w := []byte{}
	for {
		w = append(w, byte('a'+n%26))
		if n /= 26; n == 0 {
			return string(w)
		}
	}
}

// A key pattern with quotes (Caddy's "remote_port":"N") is matched on the
// lines as the log wrote them, not on their JSON-quoted form in the prompt.
func TestOracleKeyWithQuotes(t *testing.T) {
	o := &Oracle{Labels: map[string]int{"20109": 1}, Accuracy: 1, KeyRE: regexp.MustCompile(`"remote_port":"?([0-9]+)`)}
	line := `{"level":"error","logger":"http.log.error","msg":"dial tcp: connection refused","request":{"remote_ip":"127.0.0.1","remote_port":"20109"}}`
	q, _ := json.Marshal(line)
	section := "### NEW SESSION: 1 lines\n" + string(q) + "\n"
	require.Equal(t, "20109", o.key(section))
	assert.True(t, o.abnormal(section), "answered from the label of the key in the quoted line")
}

// A question whose key the oracle cannot find, here because the prompt's
// redaction rewrote the address the key pattern expects, is answered from the
// HDFS failure events and counted, so that a harness on another system sees
// its stand-in LLM guessing.
func TestOracleCountsUnkeyed(t *testing.T) {
	line := `[INFO] <IP>:20069 - 54132 "A IN jobs-284.legacy.test. udp 38 false 512" SERVFAIL qr,rd 38 0.000151977s`
	q, _ := json.Marshal(line)
	section := "### NEW SESSION: 1 lines\n" + string(q) + "\n"

	o := &Oracle{Labels: map[string]int{"20069": 1}, Accuracy: 1, KeyRE: regexp.MustCompile(`127\.0\.0\.1:([0-9]+) - [0-9]+ "`)}
	assert.False(t, o.abnormal(section), "no key: the HDFS failure events, of which the line has none")
	assert.Equal(t, int64(1), o.Unkeyed())

	o = &Oracle{Labels: map[string]int{"20069": 1}, Accuracy: 1, KeyRE: regexp.MustCompile(`(?:127\.0\.0\.1|<IP>):([0-9]+) - [0-9]+ "`)}
	assert.True(t, o.abnormal(section), "the label of the key")
	assert.Equal(t, int64(0), o.Unkeyed())

	o = &Oracle{KeyRE: regexp.MustCompile(`<IP>:([0-9]+)`)}
	o.abnormal(section)
	assert.Equal(t, int64(0), o.Unkeyed(), "without labels every answer is from the failure events: nothing to count")
}
