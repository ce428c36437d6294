package model

import "testing"

// The level of a line is read from how log headers print it, not from words
// in the message.
func TestTraitsLevel(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"081109 203615 148 WARN dfs.DataNode$DataXceiver: writeBlock blk_1 received exception", true},
		{"081109 203615 148 INFO dfs.DataNode: Received block blk_1", false},
		{"[18377] 2026/12/02 14:00:29.853120 [ERR] 127.0.0.1:35516 - cid:6 - maximum payload exceeded", true},
		{"[18377] 2026/12/02 14:00:29.853120 [WRN] 127.0.0.1:35516 - cid:6 - Readloop processing time", true},
		{"[18377] 2026/12/02 14:00:29.853120 [INF] 127.0.0.1:35516 - cid:6 - Slow Consumer Detected", false},
		{`{"level":"error","ts":1733148029.8,"logger":"http.log.error","msg":"dial tcp: connection refused"}`, true},
		{`{"level":"info","ts":1733148029.8,"msg":"handled request","status":200}`, false},
		{"time=2026-12-02T14:00:29Z level=warn msg=\"disk almost full\"", true},
		{"E1202 14:00:29.853120 main.go:12] oops", true},
		{"I1202 14:00:29.853120 main.go:12] started", false},
		{"request finished with no error", false},
		{"ERRORS: 0 of 12 checks failed", false},
		{"2026-12-02 14:00:29 FATAL could not bind", true},
	} {
		if got := traitsOf([]string{tc.line}).level; got != tc.want {
			t.Errorf("level(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

// Sessions with the same set of templates share a content, whatever their
// order, repeats or variable parts.
func TestTraitsContent(t *testing.T) {
	a := traitsOf([]string{"open conn 1 from 10.0.0.1", "read 12 bytes", "read 40 bytes", "close conn 1"})
	b := traitsOf([]string{"read 7 bytes", "open conn 9 from 10.0.0.2", "close conn 9"})
	c := traitsOf([]string{"open conn 9 from 10.0.0.2", "close conn 9"})
	if a.content != b.content || a.content == c.content || len(a.shapes) != 3 || a.lines != 4 {
		t.Fatalf("a %+v\nb %+v\nc %+v", a, b, c)
	}
}

// Review goes round the clusters of suspects before a second content of any
// one cluster, most suspicious first.
func TestRoundRobin(t *testing.T) {
	g := func(cluster uint64, score float64) *contentGroup {
		return &contentGroup{cluster: cluster, score: score, suspect: true}
	}
	a1, a2, a3 := g(1, 9), g(1, 8), g(1, 7)
	b1, c1, c2 := g(2, 5), g(3, 100), g(3, 1)
	got := roundRobin([]*contentGroup{a2, b1, a1, c2, a3, c1})
	want := []*contentGroup{c1, a1, b1, c2, a2, a3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("position %d: cluster %d score %v, want cluster %d score %v", i, got[i].cluster, got[i].score, want[i].cluster, want[i].score)
		}
	}
}
