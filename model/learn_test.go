package model_test

import (
	"context"
	"math/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/evolve"
)

// Learn mode: no labels. The learner collects sessions (answering
// "learning"), trains on them as normal, saves the bundle and hands over; the
// anomalies it never saw reconstruct badly and go to the LLM, whose labels
// AEM brings into the memory, after which the small model catches that kind
// of anomaly on its own.
func TestLearnerBootstrap(t *testing.T) {
	enc := &hashEncoder{dim: 64}
	g := &hdfs{r: rand.New(rand.NewSource(7)), varied: true}
	warmup := g.sessions(300, 0)
	anomalies := g.sessions(0, 120)
	normals := g.sessions(100, 0)
	judge := &oracleJudge{labels: labelsOf(anomalies, normals)}
	dir := t.TempDir()
	var ready atomic.Pointer[model.Cascade]
	l, err := model.NewLearner(model.LearnOptions{
		Sessions: len(warmup),
		Train:    fastTrain,
		Cascade:  model.CascadeOptions{Encoder: enc, Judge: judge},
		Save: func(ctx context.Context, b *bundle.Bundle) error {
			_, err := bundle.Save(dir, b)
			return err
		},
		OnReady: func(c *model.Cascade) {
			c.EnableAEM(evolve.Config{BatchSize: 1000}, c.PersistDir(dir))
			ready.Store(c)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for i, s := range warmup {
		v, err := l.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil {
			t.Fatal(err)
		}
		if v.Route != model.RouteFallback || v.Reason != model.ReasonLearning || v.Anomaly {
			t.Fatalf("session %d while learning: %+v", i, v)
		}
	}
	select {
	case <-l.Ready():
	case <-time.After(60 * time.Second):
		t.Fatalf("learner not ready: %v", l.Err())
	}
	if l.Err() != nil || l.Cascade() == nil || l.Cascade() != ready.Load() {
		t.Fatalf("after training: err %v", l.Err())
	}
	// The screen may hold out normal sessions in rare combinations of
	// optional events, never more than it found suspect.
	b, err := bundle.Load(dir)
	st := l.Review()
	if err != nil || b.Manifest.Training.TrainSessions+st.HeldOut != len(warmup) || st.HeldOut > st.Suspects || b.Manifest.MemoryClasses[1] != 0 {
		t.Fatalf("saved bundle: %v; %d trained, review %+v", err, b.Manifest.Training.TrainSessions, st)
	}
	t.Logf("screen of the warm-up: %+v", st)

	// Normal traffic stays on the small model as normal; anomalies are novel.
	fp := 0
	for _, s := range normals {
		v, err := l.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil {
			t.Fatal(err)
		}
		if v.Anomaly {
			fp++
		}
	}
	caught := 0
	for _, s := range anomalies[:60] {
		v, _ := l.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		// Judged by the LLM, or (same vector as one judged) by its pending verdict.
		if (v.Route == model.RouteLLM || v.Route == model.RouteCache) && v.Anomaly {
			caught++
		}
	}
	t.Logf("after learning: %d/100 normal flagged, %d/60 anomalies sent to the LLM and flagged", fp, caught)
	if fp > 5 || caught < 50 {
		t.Fatalf("learn mode: %d false positives, %d/60 anomalies caught", fp, caught)
	}

	// AEM learns the LLM's labels; unseen anomalies of the same kinds are now
	// caught without the LLM, by the small model or still by the LLM.
	c := l.Cascade()
	if err := c.AEM().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cl := c.Snapshot().Memory.ClassCounts(); cl[1] == 0 || !c.Snapshot().Small.Trained() {
		t.Fatalf("memory after AEM %v, projection trained %v", cl, c.Snapshot().Small.Trained())
	}
	calls := judge.calls
	var conf confusion
	for _, s := range append(anomalies[60:], g.sessions(60, 0)...) {
		v, _ := l.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		conf.add(v.Anomaly, s.Label)
	}
	t.Logf("after AEM: F1 %.3f %+v with %d LLM calls for 120 sessions", conf.f1(), conf, judge.calls-calls)
	if conf.f1() < 0.9 || judge.calls-calls > 40 {
		t.Fatalf("after AEM: F1 %.3f, %d LLM calls", conf.f1(), judge.calls-calls)
	}
}

func TestLearnerDurationAndClose(t *testing.T) {
	enc := &hashEncoder{dim: 16}
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	l, err := model.NewLearner(model.LearnOptions{
		Sessions: 1000, Duration: time.Minute, MinSessions: 30,
		Train:   fastTrain,
		Cascade: model.CascadeOptions{Encoder: enc},
		Now:     func() time.Time { return time.Unix(0, now.Load()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := &hdfs{r: rand.New(rand.NewSource(8))}
	ctx := context.Background()
	for _, s := range g.sessions(20, 0) {
		l.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
	}
	now.Add(int64(2 * time.Minute))
	// Time is up but fewer than MinSessions: keep collecting.
	l.Detect(ctx, model.Session{ID: "x", Lines: g.session(false).Lines})
	if l.Collected() != 21 {
		t.Fatalf("collected %d", l.Collected())
	}
	if v, err := l.DetectFast(ctx, model.Session{ID: "empty"}); err != nil || v.Reason != model.ReasonLearning {
		t.Fatalf("empty session while learning: %+v %v", v, err)
	}
	for _, s := range g.sessions(9, 0) {
		l.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
	}
	select {
	case <-l.Ready():
	case <-time.After(60 * time.Second):
		t.Fatalf("not ready after the duration: %v", l.Err())
	}
	if l.Err() != nil {
		t.Fatal(l.Err())
	}
	if _, err := model.NewLearner(model.LearnOptions{}); err == nil {
		t.Fatal("learner without encoder accepted")
	}
}

func TestLearnerClosedNeverTrains(t *testing.T) {
	l, err := model.NewLearner(model.LearnOptions{Sessions: 5, Train: fastTrain, Cascade: model.CascadeOptions{Encoder: &hashEncoder{dim: 16}}})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	g := &hdfs{r: rand.New(rand.NewSource(9))}
	for _, s := range g.sessions(10, 0) {
		v, err := l.Detect(context.Background(), model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil || v.Reason != model.ReasonLearning {
			t.Fatalf("after Close: %+v %v", v, err)
		}
	}
	select {
	case <-l.Ready():
		t.Fatal("a closed learner trained")
	case <-time.After(100 * time.Millisecond):
	}
	if l.Cascade() != nil || l.Err() != nil {
		t.Fatalf("cascade %v err %v", l.Cascade(), l.Err())
	}
}
