package normalize

import "testing"

func TestSessionKeyUsesUpstreamTemplates(t *testing.T) {
	a := []string{"Receiving block blk_1 src /10.0.0.1", "PacketResponder 1 for block blk_1 terminating"}
	b := []string{"Receiving block blk_2 from /10.0.0.9 (retry)", "PacketResponder 3 for block blk_2 terminating"}
	tpl := []string{"Receiving block <*> src <*>", "PacketResponder <*> for block <*> terminating"}
	if SessionKey(a, tpl, TemplateKey) != SessionKey(b, tpl, TemplateKey) {
		t.Fatal("same upstream templates, different keys")
	}
	if SessionKey(a, nil, TemplateKey) != TemplateKey(a) {
		t.Fatal("without templates the key is key(lines)")
	}
	if SessionKey(a, tpl[:1], TemplateKey) != TemplateKey(a) {
		t.Fatal("templates for only some lines must not be used")
	}
	if SessionKey(a, tpl, TemplateKey) == TemplateKey(a) {
		t.Fatal("upstream keys are a key space of their own")
	}
	if UpstreamKey([]string{"ab", "c"}) == UpstreamKey([]string{"a", "bc"}) {
		t.Fatal("template boundaries must count")
	}
}
