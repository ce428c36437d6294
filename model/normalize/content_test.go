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
