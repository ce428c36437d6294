package model_test

import (
	"context"
	"math/rand"
	"slices"
	"testing"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

func TestSessionVectorPooling(t *testing.T) {
	a, b := []float32{1, 0}, []float32{0, 1}
	lines := [][]float32{a, a, a, b}
	for _, tc := range []struct {
		pooling string
		want    []float32
	}{
		{bundle.SessionPoolMean, []float32{0.75, 0.25}},
		{"", []float32{0.75, 0.25}}, // bundles written before the pooling was recorded
		{bundle.SessionPoolDistinct, []float32{0.5, 0.5}},
	} {
		if got := model.SessionVector(lines, tc.pooling); !slices.Equal(got, tc.want) {
			t.Errorf("pooling %q: %v, want %v", tc.pooling, got, tc.want)
		}
	}
	if v := model.SessionVector(nil, bundle.SessionPoolDistinct); v != nil {
		t.Fatalf("empty session: %v", v)
	}
}

// A bundle records the pooling and the normaliser its vectors were made with;
// a cascade pools the way its bundle says, whatever the default for new
// models is.
func TestCascadePoolsAsItsBundle(t *testing.T) {
	f := trained(t)
	if m := f.b.Manifest.Encoder; m.SessionPooling != bundle.SessionPoolDistinct || m.Normalizer != normalize.Version {
		t.Fatalf("default training records pooling %q, normaliser %q", m.SessionPooling, m.Normalizer)
	}
	g := &hdfs{r: rand.New(rand.NewSource(5))}
	train := g.sessions(200, 40)
	opts := fastTrain
	opts.SessionPooling = bundle.SessionPoolMean
	b, err := model.Train(context.Background(), f.enc, train, nil, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Encoder.SessionPooling != bundle.SessionPoolMean {
		t.Fatalf("pooling recorded %q", b.Manifest.Encoder.SessionPooling)
	}
	// The bundle's round trip keeps it.
	dir := t.TempDir()
	if _, err := bundle.Save(dir, b); err != nil {
		t.Fatal(err)
	}
	if b, err = bundle.Load(dir); err != nil || b.Manifest.Encoder.SessionPoolingOf() != bundle.SessionPoolMean {
		t.Fatalf("after a round trip: %v", err)
	}
	c, err := model.NewCascade(b, model.CascadeOptions{Encoder: f.enc})
	if err != nil {
		t.Fatal(err)
	}
	// A session with a repeated line: the two poolings give it different vectors.
	s := f.test[0]
	lines := append(slices.Clone(s.Lines), s.Lines[0], s.Lines[0], s.Lines[0])
	vecs, err := f.enc.Embed(context.Background(), lines)
	if err != nil {
		t.Fatal(err)
	}
	mean, distinct := model.SessionVector(vecs, bundle.SessionPoolMean), model.SessionVector(vecs, bundle.SessionPoolDistinct)
	if slices.Equal(mean, distinct) {
		t.Fatal("the test session does not tell the poolings apart")
	}
	v, err := c.Detect(context.Background(), model.Session{ID: s.ID, Lines: lines})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := b.Coordinator.Evolved(mean); v.RecError != want {
		t.Fatalf("reconstruction error %v, want %v (the mean-pooled vector's)", v.RecError, want)
	}
}
