package evolve

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// world generates sessions as means of template vectors; evolve() rewrites
// every template (adds a component), as a software upgrade rewords messages.
type world struct {
	r        *rand.Rand
	normal   [][]float32
	errs     [][]float32
	reworded [][]float32
	dim      int
}

func newWorld(seed int64, dim int) *world {
	w := &world{r: rand.New(rand.NewSource(seed)), dim: dim}
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(w.r.NormFloat64()) / 4
		}
		return v
	}
	for range 12 {
		w.normal = append(w.normal, vec())
	}
	for range 3 {
		w.errs = append(w.errs, vec())
	}
	for range 15 {
		w.reworded = append(w.reworded, vec())
	}
	return w
}

// session returns the old and evolved vectors of one random session.
func (w *world) session(anomalous bool) (old, evolved []float32) {
	var ts []int
	for range 8 + w.r.Intn(6) {
		ts = append(ts, w.r.Intn(len(w.normal)))
	}
	if anomalous {
		ts = append(ts, len(w.normal)+w.r.Intn(len(w.errs)))
	}
	old = make([]float32, w.dim)
	evolved = make([]float32, w.dim)
	for _, t := range ts {
		var tv []float32
		if t < len(w.normal) {
			tv = w.normal[t]
		} else {
			tv = w.errs[t-len(w.normal)]
		}
		for i := range old {
			old[i] += tv[i] / float32(len(ts))
			evolved[i] += (tv[i] + w.reworded[t][i]) / float32(len(ts))
		}
	}
	return old, evolved
}

func snapshot(t *testing.T, w *world) (*Snapshot, []smallmodel.Sample) {
	t.Helper()
	ctx := context.Background()
	var vecs [][]float32
	var samples []smallmodel.Sample
	var items []smallmodel.Item
	for i := range 600 {
		label := 0
		if i%6 == 0 {
			label = 1
		}
		v, _ := w.session(label == 1)
		vecs = append(vecs, v)
		samples = append(samples, smallmodel.Sample{Vec: v, Label: label})
		items = append(items, smallmodel.Item{ID: fmt.Sprint("old", i), Label: label, Vec: v, Key: fmt.Sprint("old", i)})
	}
	c, err := coordinator.Train(ctx, vecs, nil, coordinator.Config{Epochs: 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := smallmodel.Train(ctx, samples, smallmodel.Config{Epochs: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := smallmodel.NewMemory(smallmodel.MemoryConfig{}, s, items)
	if err != nil {
		t.Fatal(err)
	}
	return &Snapshot{Coordinator: c, Small: s, Memory: m, Base: "v1"}, samples
}

func TestUpdateLearnsEvolvedSessions(t *testing.T) {
	w := newWorld(1, 32)
	snap, _ := snapshot(t, w)
	var store atomic.Pointer[Snapshot]
	store.Store(snap)
	var persisted atomic.Int32
	u := New(&store, Config{BatchSize: 1000}, func(ctx context.Context, s *Snapshot) error {
		persisted.Add(1)
		if s.Version() != "v1+aem1" {
			t.Errorf("persisted version %s", s.Version())
		}
		return nil
	})

	// 60 evolved sessions, each related to its old form (Evol Detect).
	var findings []Finding
	for i := range 60 {
		anom := i%5 == 0
		old, ev := w.session(anom)
		label := 0
		if anom {
			label = 1
		}
		findings = append(findings, Finding{ID: fmt.Sprint("new", i), Vec: ev, Key: fmt.Sprint("new", i), Label: label,
			Lines: []string{"reworded line"}, Relations: []Relation{{OldID: "x", OldVec: old, OldLabel: label}}})
	}
	evolvedBefore := 0
	for _, f := range findings {
		if _, ev := snap.Coordinator.Evolved(f.Vec); ev {
			evolvedBefore++
		}
		u.Submit(f)
	}
	if evolvedBefore < 50 {
		t.Fatalf("only %d of 60 sessions evolved before AEM: the test world is too easy", evolvedBefore)
	}
	if err := u.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := store.Load()
	st := u.Stats()
	if next == snap || st.Updates != 1 || st.Applied != 60 || st.Pending != 0 || persisted.Load() != 1 {
		t.Fatalf("stats %+v persisted %d", st, persisted.Load())
	}
	if next.Memory.Len() != snap.Memory.Len()+60 {
		t.Fatalf("memory %d -> %d", snap.Memory.Len(), next.Memory.Len())
	}
	// The findings are memory items marked as judged by the LLM; the
	// training items are not.
	for i := range next.Memory.Len() {
		if it := next.Memory.Item(i); it.Judged != (i >= snap.Memory.Len()) {
			t.Fatalf("item %d (%s): judged %v", i, it.ID, it.Judged)
		}
	}
	evolvedAfter, wrong := 0, 0
	for _, f := range findings {
		if _, ev := next.Coordinator.Evolved(f.Vec); ev {
			evolvedAfter++
		}
		_, anom, _ := next.Memory.Classify(next.Small, f.Vec)
		if anom != (f.Label == 1) {
			wrong++
		}
	}
	if evolvedAfter > 6 || wrong > 0 {
		t.Fatalf("after AEM: %d of 60 still evolved, %d misclassified", evolvedAfter, wrong)
	}
	// The old snapshot is untouched (in-flight readers keep a consistent set).
	if snap.Memory.Len() != 600 || snap.Updates != 0 {
		t.Fatal("old snapshot modified")
	}
}

func TestQueueDropsOldest(t *testing.T) {
	var store atomic.Pointer[Snapshot]
	u := New(&store, Config{QueueSize: 3, BatchSize: 100}, nil)
	for i := range 5 {
		u.Submit(Finding{ID: fmt.Sprint(i)})
	}
	st := u.Stats()
	if st.Submitted != 5 || st.Dropped != 2 || st.Pending != 3 || u.queue[0].ID != "2" {
		t.Fatalf("stats %+v first %s", st, u.queue[0].ID)
	}
	// No snapshot to update: Flush reports it, the failure is counted.
	if err := u.Flush(context.Background()); err == nil || u.Stats().Failures != 1 {
		t.Fatalf("flush without snapshot: %v, stats %+v", err, u.Stats())
	}
}

func TestRunTriggersOnBatchAndSwapsUnderReaders(t *testing.T) {
	w := newWorld(2, 16)
	snap, _ := snapshot(t, w)
	var store atomic.Pointer[Snapshot]
	store.Store(snap)
	u := New(&store, Config{BatchSize: 4, Interval: time.Hour, CoordinatorEpochs: 2, SmallEpochs: 1}, func(context.Context, *Snapshot) error {
		return errors.New("disk full")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Run(ctx) }()

	// Readers score continuously while the update swaps the snapshot.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		v, _ := w.session(false) // the world's rng is not shared with readers
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := store.Load()
				s.Coordinator.Evolved(v)
				s.Memory.Classify(s.Small, v)
			}
		}()
	}
	for i := range 4 {
		old, ev := w.session(false)
		u.Submit(Finding{ID: fmt.Sprint(i), Vec: ev, Key: fmt.Sprint(i), Relations: []Relation{{OldVec: old}}})
	}
	deadline := time.Now().Add(30 * time.Second)
	for u.Stats().Updates == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	st := u.Stats()
	if st.Updates != 1 || store.Load().Updates != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A failed persist is counted; the new snapshot stays in use.
	if st.Failures != 1 || st.LastError == "" {
		t.Fatalf("persist failure not recorded: %+v", st)
	}
}

func TestBadFindings(t *testing.T) {
	w := newWorld(3, 16)
	snap, _ := snapshot(t, w)
	var store atomic.Pointer[Snapshot]
	store.Store(snap)
	u := New(&store, Config{}, nil)
	u.Submit(Finding{ID: "short", Vec: []float32{1}})
	if err := u.Flush(context.Background()); err == nil {
		t.Fatal("wrong width accepted")
	}
	u.Submit(Finding{ID: "label", Vec: make([]float32, 16), Label: 7})
	if err := u.Flush(context.Background()); err == nil {
		t.Fatal("label 7 accepted")
	}
	if store.Load() != snap {
		t.Fatal("a failed update swapped the snapshot")
	}
}

func TestVersion(t *testing.T) {
	s := &Snapshot{Base: "hdfs-1"}
	if s.Version() != "hdfs-1" {
		t.Fatal(s.Version())
	}
	s.Updates = 3
	if s.Version() != "hdfs-1+aem3" || BaseVersion(s.Version()) != "hdfs-1" {
		t.Fatal(s.Version())
	}
}

func TestMatchPendingFindings(t *testing.T) {
	var store atomic.Pointer[Snapshot]
	u := New(&store, Config{BatchSize: 100}, nil)
	a := []float32{1, 2, 3, 4}
	b := []float32{4, -3, 2, 1}
	if _, _, ok := u.Match(a); ok {
		t.Fatal("match in an empty queue")
	}
	u.Submit(Finding{ID: "a", Vec: a, Label: 1})
	u.Submit(Finding{ID: "b", Vec: b, Label: 0})
	// The same vector, or a rounding away from it: the finding.
	near := []float32{1, 2, 3, 4 + 1e-6}
	for _, v := range [][]float32{a, near} {
		if id, label, ok := u.Match(v); !ok || id != "a" || label != 1 {
			t.Fatalf("Match(%v) = %q %d %v, want a 1 true", v, id, label, ok)
		}
	}
	// A different session, another width, a zero vector: no match.
	for _, v := range [][]float32{{1, 2, 3, 4.5}, {1, 2, 3}, {0, 0, 0, 0}, nil} {
		if id, _, ok := u.Match(v); ok {
			t.Fatalf("Match(%v) matched %s", v, id)
		}
	}
	// The latest judgement of a vector wins.
	u.Submit(Finding{ID: "a2", Vec: a, Label: 0})
	if id, label, _ := u.Match(a); id != "a2" || label != 0 {
		t.Fatalf("latest finding not preferred: %s %d", id, label)
	}
}

// An overruled label (the LLM's answer against the small model's vote)
// joins the memory, but the small model's fine-tuning does not replay it:
// the projection comes out as if the finding were not in the batch.
func TestAnOverruledLabelIsNotReplayedIntoTheSmallModel(t *testing.T) {
	w := newWorld(3, 32)
	snap, _ := snapshot(t, w)
	var batch []Finding
	for i := range 10 { // evolution relations: the small model is fine-tuned
		old, ev := w.session(false)
		batch = append(batch, Finding{ID: fmt.Sprint("new", i), Vec: ev, Key: fmt.Sprint("new", i),
			Relations: []Relation{{OldID: "x", OldVec: old, OldLabel: 0}}})
	}
	_, wrong := w.session(true) // an anomalous session the LLM called normal
	update := func(extra ...Finding) *Snapshot {
		t.Helper()
		var store atomic.Pointer[Snapshot]
		store.Store(snap)
		u := New(&store, Config{BatchSize: 1000}, nil)
		for _, f := range append(append([]Finding(nil), batch...), extra...) {
			u.Submit(f)
		}
		if err := u.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		return store.Load()
	}
	without := update()
	overruled := update(Finding{ID: "wrong", Vec: wrong, Key: "wrong", Label: 0, Overruled: true})
	replayed := update(Finding{ID: "wrong", Vec: wrong, Key: "wrong", Label: 0})
	if without.Small == snap.Small {
		t.Fatal("fixture: the batch did not fine-tune the small model")
	}
	same := func(a, b *Snapshot) bool {
		return fmt.Sprint(a.Small.Project(wrong)) == fmt.Sprint(b.Small.Project(wrong))
	}
	if !same(overruled, without) {
		t.Error("the overruled label was replayed: the projection differs from the batch without it")
	}
	if same(replayed, without) {
		t.Error("fixture: replaying the label changed nothing, so the test shows nothing")
	}
	it := overruled.Memory.Item(overruled.Memory.Len() - 1)
	if it.ID != "wrong" || it.Label != 0 || !it.Overruled {
		t.Errorf("the memory's last item %s: label %d, overruled %v", it.ID, it.Label, it.Overruled)
	}
}
