package evolve

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// An edit learns operator labels as one update (persisted), forgets a key's
// operator items without touching the rest, and refuses a finding that is
// not an operator's, leaving the snapshot as it was.
func TestEdit(t *testing.T) {
	w := newWorld(3, 32)
	snap, _ := snapshot(t, w)
	var store atomic.Pointer[Snapshot]
	store.Store(snap)
	var persisted atomic.Int32
	u := New(&store, Config{}, func(context.Context, *Snapshot) error { persisted.Add(1); return nil })
	ctx := context.Background()
	_, v := w.session(false)
	log := []bundle.Feedback{{ID: "fb-1", Action: bundle.FeedbackAnomalous, Key: "k"}}

	if err := u.Edit(ctx, Edit{Learn: []Finding{{ID: "s1", Vec: v, Key: "k", Label: 1}}}); err == nil {
		t.Fatal("a finding without Operator is not an edit")
	}
	if store.Load() != snap || persisted.Load() != 0 {
		t.Fatal("a refused edit changed the snapshot")
	}

	if err := u.Edit(ctx, Edit{Learn: []Finding{{ID: "s1", Vec: v, Key: "k", Label: 1, Operator: true}}, Feedback: log}); err != nil {
		t.Fatal(err)
	}
	after := store.Load()
	it, ok := after.Memory.OperatorLabel(v)
	if !ok || it.Label != 1 || after.Updates != 1 || len(after.Feedback) != 1 || persisted.Load() != 1 {
		t.Fatalf("after the label: item %+v %v, updates %d, feedback %d, persisted %d", it, ok, after.Updates, len(after.Feedback), persisted.Load())
	}
	if after.Memory.Len() != snap.Memory.Len()+1 {
		t.Fatalf("memory %d items, want %d", after.Memory.Len(), snap.Memory.Len()+1)
	}

	if err := u.Edit(ctx, Edit{Forget: []string{"k"}, Feedback: log}); err != nil {
		t.Fatal(err)
	}
	final := store.Load()
	if _, ok := final.Memory.OperatorLabel(v); ok || final.Memory.Len() != snap.Memory.Len() || persisted.Load() != 2 {
		t.Fatalf("after forgetting: %d items (want %d), persisted %d", final.Memory.Len(), snap.Memory.Len(), persisted.Load())
	}
}
