package model_test

import (
	"context"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/evolve"
)

// An LLM alarm that overrules the small model's "normal" is the verdict of
// its session and of its very content, but AEM learns it only once another
// content agrees (unless LearnUncorroboratedAlarms).
func TestCascadeHoldsAnAlarmThatOverrulesTheSmallModel(t *testing.T) {
	f := trained(t)
	ctx := context.Background()
	if !f.b.Small.Trained() {
		t.Fatal("fixture: the small model is not trained contrastively")
	}
	// Every session is evolved at this tau.
	b := *f.b
	b.Coordinator = f.b.Coordinator.WithTau(1e-12)
	probe, err := model.NewCascade(&b, model.CascadeOptions{Encoder: f.enc})
	if err != nil {
		t.Fatal(err)
	}
	var s model.LabelledSession
	// A normal session with a line fewer: a content the memory does not hold.
	for _, c := range f.test {
		c.Lines = c.Lines[:len(c.Lines)-1]
		v, err := probe.DetectFast(ctx, model.Session{ID: c.ID, Lines: c.Lines})
		if err == nil && v.Evolved && !v.Anomaly && c.Label == 0 {
			s = c
			break
		}
	}
	if s.ID == "" {
		t.Fatal("fixture: no normal test session the small model calls normal")
	}
	inMemory := func(c *model.Cascade, id string) bool {
		m := c.Snapshot().Memory
		for i := range m.Len() {
			if m.Item(i).ID == id {
				return true
			}
		}
		return false
	}
	for _, atOnce := range []bool{false, true} {
		judge := &oracleJudge{labels: map[string]int{s.ID: 1}} // a wrong alarm
		c, err := model.NewCascade(&b, model.CascadeOptions{Encoder: f.enc, Judge: judge, LearnUncorroboratedAlarms: atOnce})
		if err != nil {
			t.Fatal(err)
		}
		upd := c.EnableAEM(evolve.Config{BatchSize: 1000}, nil)
		v, err := c.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil || v.Route != model.RouteLLM || !v.Anomaly {
			t.Fatalf("at once %v: the alarm is not the session's verdict: %+v %v", atOnce, v, err)
		}
		if err := upd.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		st := c.Stats()
		if got := inMemory(c, s.ID); got != atOnce || st.Held != map[bool]uint64{false: 1, true: 0}[atOnce] {
			t.Fatalf("at once %v: learnt %v, stats %+v", atOnce, got, st)
		}
		if atOnce {
			continue
		}
		// The same content again is answered from the held alarm, without a request.
		calls := judge.calls
		v, err = c.Detect(ctx, model.Session{ID: "again", Lines: s.Lines})
		if err != nil || v.Route != model.RouteCache || !v.Anomaly || !strings.Contains(v.Reason, "held for corroboration") || judge.calls != calls {
			t.Fatalf("the held content again: %+v %v, judge calls %d -> %d", v, err, calls, judge.calls)
		}
		if st := c.Stats(); st.HeldNow != 1 || st.Findings != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// A "normal" that overrules the small model's alarm is learnt at once, marked
// overruled: the memory takes it, the small model's fine-tuning does not
// (evolve.Finding.Overruled). One that agrees with the small model is not
// marked.
func TestCascadeMarksANormalThatOverrulesTheSmallModel(t *testing.T) {
	f := trained(t)
	ctx := context.Background()
	b := *f.b
	b.Coordinator = f.b.Coordinator.WithTau(1e-12) // every session is evolved
	probe, err := model.NewCascade(&b, model.CascadeOptions{Encoder: f.enc})
	if err != nil {
		t.Fatal(err)
	}
	// A session of each label that the small model gets right, with a line
	// fewer (a content the memory does not hold).
	var alarm, normal model.LabelledSession
	for _, c := range f.test {
		c.Lines = c.Lines[:len(c.Lines)-1]
		v, err := probe.DetectFast(ctx, model.Session{ID: c.ID, Lines: c.Lines})
		if err != nil || !v.Evolved || v.Anomaly != (c.Label == 1) {
			continue
		}
		if c.Label == 1 && alarm.ID == "" {
			alarm = c
		}
		if c.Label == 0 && normal.ID == "" {
			normal = c
		}
	}
	if alarm.ID == "" || normal.ID == "" {
		t.Fatal("fixture: no anomalous and normal test sessions the small model gets right")
	}
	judge := &oracleJudge{labels: map[string]int{alarm.ID: 0, normal.ID: 0}} // wrong about the first
	c, err := model.NewCascade(&b, model.CascadeOptions{Encoder: f.enc, Judge: judge})
	if err != nil {
		t.Fatal(err)
	}
	upd := c.EnableAEM(evolve.Config{BatchSize: 1000}, nil)
	for _, s := range []model.LabelledSession{alarm, normal} {
		if v, err := c.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines}); err != nil || v.Route != model.RouteLLM || v.Anomaly {
			t.Fatalf("%s: %+v %v", s.ID, v, err)
		}
	}
	if err := upd.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m := c.Snapshot().Memory
	got := map[string]bool{}
	for i := range m.Len() {
		if it := m.Item(i); it.ID == alarm.ID || it.ID == normal.ID {
			got[it.ID] = it.Overruled
		}
	}
	if len(got) != 2 || !got[alarm.ID] || got[normal.ID] {
		t.Fatalf("learnt items, overruled: %v (want %s true, %s false)", got, alarm.ID, normal.ID)
	}
}
