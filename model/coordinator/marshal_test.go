package coordinator

import (
	"context"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/internal/wire"
)

func TestMarshalRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	data := manifold(r, randomBasis(r, 2, 16), 200, 0.1)
	m, err := Train(context.Background(), data[:150], data[150:], Config{Epochs: 2, Output: "tanh"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tau() != m.Tau() || got.Error(data[3]) != m.Error(data[3]) || got.Config().Output != "tanh" || got.HeldOut() != 50 {
		t.Fatal("round trip changed the model")
	}
	// The held-out sessions travel: both re-derive the same tau.
	a, errA := m.FineTune(context.Background(), data[:20], 2)
	b, errB := got.FineTune(context.Background(), data[:20], 2)
	if errA != nil || errB != nil || a.Tau() != b.Tau() || a.Tau() == m.Tau() {
		t.Fatalf("fine-tuned after a round trip: tau %g vs %g (was %g), %v %v", b.Tau(), a.Tau(), m.Tau(), errA, errB)
	}

	// Format 1 (no held-out sessions) is still read, and keeps its tau.
	var w wire.Writer
	w.U32(1)
	if err := w.JSON(m.cfg); err != nil {
		t.Fatal(err)
	}
	w.F64(m.tau)
	w.Array("mean", []int{len(m.mean)}, m.mean)
	w.Array("std", []int{len(m.std)}, m.std)
	w.Array("valid_errors", []int{len(m.validErrs)}, m.validErrs)
	m.net.Encode(&w, "autoencoder")
	v1, err := Unmarshal(w.Bytes())
	if err != nil {
		t.Fatalf("format 1: %v", err)
	}
	if v1.Tau() != m.Tau() || v1.HeldOut() != 0 || v1.Error(data[3]) != m.Error(data[3]) {
		t.Fatal("format 1 read wrongly")
	}
	if f, err := v1.FineTune(context.Background(), data[:20], 2); err != nil || f.Tau() != m.Tau() {
		t.Fatalf("format 1 model re-derived tau %g without held-out sessions (%v)", f.Tau(), err)
	}
	// A non-finite held-out session is refused.
	bad := *m
	bad.held = [][]float32{append(slices.Clone(m.held[0][:len(m.held[0])-1]), float32(math.NaN()))}
	if pb, err := bad.MarshalBinary(); err != nil {
		t.Fatal(err)
	} else if _, err := Unmarshal(pb); err == nil {
		t.Fatal("NaN held-out session accepted")
	}
	for cut := 0; cut < len(p); cut += 13 {
		if _, err := Unmarshal(p[:cut]); err == nil {
			t.Fatalf("truncated at %d accepted", cut)
		}
	}
	if _, err := Unmarshal(append(p, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}
