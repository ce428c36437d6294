package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
)

func TestKinds(t *testing.T) {
	kind := func(k string, label int) dataset.Session {
		return dataset.Session{Label: label, Attributes: map[string]string{dataset.KindAttr: k}}
	}
	var a, b runStats
	a.Method, b.Method = "(a) small model alone", "(g) TF-IDF kNN k=5"
	for i, s := range []dataset.Session{kind("auth_timeout", 1), kind("auth_timeout", 1), kind("pubsub", 0), {Label: 1}} {
		a.addKind(s, i == 0)
		b.addKind(s, true)
	}
	if k := a.ByKind["auth_timeout"]; k == nil || k.Sessions != 2 || k.Flagged != 1 || k.Rate != 0.5 || k.Label != 1 {
		t.Fatalf("auth_timeout: %+v", k)
	}
	if len(a.ByKind) != 2 {
		t.Fatalf("a session without a kind was counted: %v", a.ByKind)
	}
	var w bytes.Buffer
	printKinds(&w, "t", []runStats{a, b})
	out := w.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "auth_timeout") || !strings.Contains(lines[2], "1/2") || !strings.Contains(lines[2], "2/2") || !strings.HasPrefix(lines[3], "pubsub") {
		t.Fatalf("table (fault kinds first):\n%s", out)
	}
	w.Reset()
	printKinds(&w, "t", []runStats{{Method: "x"}})
	if w.Len() != 0 {
		t.Fatalf("no kinds, yet: %q", w.String())
	}
}
