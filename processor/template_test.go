package processor

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
)

func sessionOf(bodies []string, tpls []any) *session {
	s := &session{}
	for i, b := range bodies {
		r := plog.NewLogRecord()
		r.Body().SetStr(b)
		r.Attributes().PutStr("before", "x")
		switch t := tpls[i].(type) {
		case string:
			r.Attributes().PutStr(TemplateAttribute, t)
		case int:
			r.Attributes().PutInt(TemplateAttribute, int64(t))
		}
		r.Attributes().PutInt("after", 1)
		s.held.add(r)
	}
	return s
}

// Templates key a session only when every record carries a non-empty string one.
func TestTemplates(t *testing.T) {
	bodies := []string{"a 1", "b 2"}
	if got := templates(sessionOf(bodies, []any{"a <*>", "b <*>"})); len(got) != 2 || got[0] != "a <*>" || got[1] != "b <*>" {
		t.Fatalf("all carried: %q", got)
	}
	for name, tpls := range map[string][]any{
		"one missing": {"a <*>", nil},
		"one empty":   {"a <*>", ""},
		"not strings": {"a <*>", 7},
	} {
		if got := templates(sessionOf(bodies, tpls)); got != nil {
			t.Errorf("%s: %q, want nil", name, got)
		}
	}
}

// Ours go only on the records without one, from what the detector reads.
func TestWriteTemplates(t *testing.T) {
	p := &Processor{cfg: DefaultConfig()}
	s := sessionOf([]string{"Receiving block blk_1 src /10.0.0.1", "kept 42"}, []any{nil, "upstream <*>"})
	recs := plog.NewLogRecordSlice()
	for i := range s.held.len() {
		r := recs.AppendEmpty()
		s.held.decode(i, r, 1)
		p.writeTemplate(r)
	}
	got0, _ := recs.At(0).Attributes().Get(TemplateAttribute)
	got1, _ := recs.At(1).Attributes().Get(TemplateAttribute)
	if got0.Str() == "" || got0.Str() == "Receiving block blk_1 src /10.0.0.1" || got1.Str() != "upstream <*>" {
		t.Fatalf("templates %q, %q", got0.Str(), got1.Str())
	}
}
