package evolve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// Edit is an operator's change to the model set (see Updater.Edit).
type Edit struct {
	// Learn are operator labels (Operator set): learnt as an AEM update.
	Learn []Finding
	// Forget are content keys whose operator items leave the memory (an
	// undone label). The fine-tuning an edit did stays: it only moved the
	// content below tau, which its other labels then decide.
	Forget []string
	// Feedback is the snapshot's feedback log after the edit.
	Feedback []bundle.Feedback
}

// Edit applies an operator's change now, ahead of queued findings, as one
// snapshot swap, persisted. Unlike findings, its errors are returned (an
// operator waits for the answer) and the snapshot stays as it was.
func (u *Updater) Edit(ctx context.Context, e Edit) error {
	u.applyMu.Lock()
	defer u.applyMu.Unlock()
	for _, f := range e.Learn {
		if !f.Operator || (f.Label != 0 && f.Label != 1) {
			return fmt.Errorf("aem: edit: finding %s is not an operator label", f.ID)
		}
	}
	cur := u.store.Load()
	if cur == nil {
		return errors.New("aem: no snapshot to edit")
	}
	next := *cur
	for _, k := range e.Forget {
		next.Memory = next.Memory.WithoutOperator(k)
	}
	if len(e.Learn) > 0 {
		n, err := u.update(ctx, &next, e.Learn)
		if err != nil {
			return err
		}
		next = *n
	}
	next.Feedback = e.Feedback
	if !u.store.CompareAndSwap(cur, &next) {
		return errors.New("aem: edit: snapshot replaced concurrently; nothing changed, try again")
	}
	u.mu.Lock()
	u.stats.Updates++
	u.stats.LastUpdate = time.Now()
	u.mu.Unlock()
	if u.persist != nil {
		if err := u.persist(ctx, &next); err != nil {
			return fmt.Errorf("aem: edit applied but not saved: %w", err)
		}
	}
	return nil
}
