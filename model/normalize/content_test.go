package normalize

import "testing"

func TestContentKey(t *testing.T) {
	a := ContentKey([]string{"Receiving block blk_1 src: /10.0.0.1:5", "PacketResponder 1 terminating"})
	if len(a) != 32 {
		t.Fatalf("key length %d, want 32", len(a))
	}
	for _, same := range [][]string{
		{"PacketResponder 2 terminating", "Receiving  block blk_2 src: /10.0.0.9:7"},                                 // order and variables do not matter
		{"Receiving block blk_1 src: /10.0.0.1:5", "PacketResponder 1 terminating", "PacketResponder 3 terminating"}, // nor repetition
	} {
		if ContentKey(same) != a {
			t.Errorf("same content %q, other key", same)
		}
	}
	for _, other := range [][]string{
		{"Receiving block blk_1 src: /10.0.0.1:5"},
		{"Receiving block blk_1 src: /10.0.0.1:5PacketResponder 1 terminating"}, // no ambiguity from concatenation
		nil,
	} {
		if ContentKey(other) == a {
			t.Errorf("other content %q shares the key", other)
		}
	}
	if ContentKey(nil) != ContentKey([]string{}) {
		t.Error("nil and empty sessions differ")
	}
	if ContentKey([]string{"x 1"}) == TemplateKey([]string{"x 1"}) {
		t.Error("content and template keys share a hash domain")
	}
}

func TestShape(t *testing.T) {
	same := [][2]string{
		{`[6063] 2026/12/04 20:53:28.106554 [TRC] 127.0.0.1:55626 - cid:291 - "v1.37.0:go" - <<- MSG_PAYLOAD: ["{\"event\":\"payments.shipped\",\"id\":99414,\"tenant\":\"billin..."]`,
			`[6063] 2026/12/04 20:53:29.000001 [TRC] 127.0.0.1:40000 - cid:7 - "v1.37.0:go" - <<- MSG_PAYLOAD: ["{\"event\":\"search.paid\",\"id\":1,\"te"]`},
		{`[1] 2026/12/04 20:53:28.1 [TRC] 127.0.0.1:5 - cid:2 - <<- [SUB app.jobs.0 1]`, `[1] 2026/12/04 20:53:28.1 [TRC] 127.0.0.1:5 - cid:2 - <<- [SUB app.metrics.17.s3 12]`},
	}
	same = append(same, [2]string{`{"level":"info","user":"bob","msg":"handled request","size":12}`, `{"level":"debug","user":"alice","msg":"upstream roundtrip","size":0}`}) // keys are the shape of a JSON line
	for _, p := range same {
		if a, b := Shape(p[0]), Shape(p[1]); a != b {
			t.Errorf("one event, two shapes:\n%s\n%s", a, b)
		}
	}
	differ := [][2]string{
		{`{"level":"info","ts":1.5,"logger":"http.log.access","msg":"handled request","status":200}`, `{"level":"error","ts":1.5,"logger":"http.log.error","msg":"aborting with incomplete response","error":"reading: EOF"}`},
		{`[1] 2026/12/04 20:53:28.1 [DBG] 127.0.0.1:5 - cid:2 - Client connection closed: Client Closed`, `[1] 2026/12/04 20:53:28.1 [DBG] 127.0.0.1:5 - cid:2 - Client connection closed: Read Error`},
		{`081109 203615 148 INFO dfs.DataNode$PacketResponder: Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6`,
			`081109 203615 148 WARN dfs.DataNode$DataXceiver: writeBlock blk_-1608999687919862906 received exception java.io.IOException`},
	}
	for _, p := range differ {
		if Shape(p[0]) == Shape(p[1]) {
			t.Errorf("two events, one shape: %s", Shape(p[0]))
		}
	}
}
