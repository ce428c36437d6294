package main

import (
	"context"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/llm"
)

func TestLLMFlagsModes(t *testing.T) {
	for _, c := range []struct {
		spec    string
		content bool
		note    string
		version string
	}{
		{"simulated:0.99", false, "simulated LLM (accuracy 0.99", "simulated-0.99+"},
		{"simulated-content:0.95", true, "content-correlated errors, accuracy 0.95", "simulated-content-0.95+"},
	} {
		l := llmFlags{spec: c.spec}
		if err := l.validate(); err != nil || !l.simulated || l.content != c.content || !l.enabled() {
			t.Fatalf("%s: %+v %v", c.spec, l, err)
		}
		if !strings.Contains(l.note(), c.note) {
			t.Errorf("%s: note %q", c.spec, l.note())
		}
		// buildJudge wires the mode: sessions of one content (other order,
		// other numbers) get one answer in content mode.
		test := []dataset.Session{
			{ID: "a", Label: 1, Lines: []string{"conn 1 opened", "auth failed for 7"}},
			{ID: "b", Label: 1, Lines: []string{"auth failed for 9", "conn 2 opened"}},
		}
		j, err := buildJudge(&l, test, 1)
		if err != nil {
			t.Fatal(err)
		}
		if v := j.(*llm.Judge).Version(); !strings.HasPrefix(v, c.version) {
			t.Errorf("%s: version %q", c.spec, v)
		}
		for _, s := range test {
			if _, err := j.Judge(context.Background(), model.Session{ID: s.ID, Lines: s.Lines}, nil); err != nil {
				t.Errorf("%s: session %s: %v", c.spec, s.ID, err)
			}
		}
	}
	// The content row of bench follows a per-session simulated --llm only.
	f := benchFlags{llm: llmFlags{spec: "simulated:0.99"}, contentAcc: 0.95}
	if err := f.llm.validate(); err != nil {
		t.Fatal(err)
	}
	if cl := f.contentLLM(); cl == nil || !cl.content || cl.accuracy != 0.95 {
		t.Errorf("content row LLM %+v", cl)
	}
	f.contentAcc = 0
	if f.contentLLM() != nil {
		t.Error("--content-acc 0 must skip the content row")
	}
}
