package model_test

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/lexical"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

func TestSessionVectorPooling(t *testing.T) {
	a, b := []float32{1, 0}, []float32{0, 1}
	lines := [][]float32{a, slices.Clone(a), a, b} // distinct by bits, not by slice
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
	ref := b.Manifest.Encoder
	mean := model.SessionVectorOf(ref, vecs, lines)
	ref.SessionPooling = bundle.SessionPoolDistinct
	distinct := model.SessionVectorOf(ref, vecs, lines)
	if slices.Equal(mean, distinct) {
		t.Fatal("the test session does not tell the poolings apart")
	}
	v, err := c.Detect(context.Background(), model.Session{ID: s.ID, Lines: lines})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := b.Coordinator.Evolved(b.Manifest.Encoder.Lexical.Semantic(mean)); v.RecError != want {
		t.Fatalf("reconstruction error %v, want %v (the mean-pooled vector's)", v.RecError, want)
	}
}

// prefixEncoder sees the first n bytes of each line only, as a BERT sees its
// first max_seq_len tokens.
type prefixEncoder struct {
	inner model.Encoder
	n     int
}

func (e prefixEncoder) Dim() int { return e.inner.Dim() }

func (e prefixEncoder) Embed(ctx context.Context, lines []string) ([][]float32, error) {
	cut := make([]string, len(lines))
	for i, l := range lines {
		cut[i] = l[:min(len(l), e.n)]
	}
	return e.inner.Embed(ctx, cut)
}

// The lexical half of a session vector sees what the encoder does not: here
// an aborted request differs from a served one only past the encoder's
// reach. Without the half the small model cannot tell them apart; with it
// (the default), it does. The bundle records the half, and a cascade over
// the reloaded bundle makes the same vectors.
func TestLexicalHalfSeesPastTheEncoder(t *testing.T) {
	enc := prefixEncoder{inner: &hashEncoder{dim: 32}, n: 24}
	r := rand.New(rand.NewSource(3))
	session := func(i int, anomalous bool) model.LabelledSession {
		end := "status=200 size=43 served"
		if anomalous {
			end = "status=0 size=0 error=\"context canceled\""
		}
		lines := []string{fmt.Sprintf("conn %d open from 10.0.0.%d", i, r.Intn(200))}
		for j := 0; j < 1+r.Intn(3); j++ {
			lines = append(lines, fmt.Sprintf("request handled           uri=/api/%d %s", r.Intn(9999), "status=200 size=43 served"))
		}
		lines = append(lines, fmt.Sprintf("request handled           uri=/api/%d %s", r.Intn(9999), end), fmt.Sprintf("conn %d closed", i))
		label := 0
		if anomalous {
			label = 1
		}
		return model.LabelledSession{ID: fmt.Sprint(i), Label: label, Lines: lines}
	}
	var train, test []model.LabelledSession
	for i := 0; i < 300; i++ {
		train = append(train, session(i, i%5 == 0))
	}
	for i := 300; i < 400; i++ {
		test = append(test, session(i, i%5 == 0))
	}
	f1 := func(opts model.TrainOptions) (float64, *bundle.Bundle) {
		t.Helper()
		b, err := model.Train(context.Background(), enc, train, nil, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if _, err := bundle.Save(dir, b); err != nil {
			t.Fatal(err)
		}
		if b, err = bundle.Load(dir); err != nil {
			t.Fatal(err)
		}
		c, err := model.NewCascade(b, model.CascadeOptions{Encoder: enc})
		if err != nil {
			t.Fatal(err)
		}
		var conf confusion
		for _, s := range test {
			v, err := c.Detect(context.Background(), model.Session{ID: s.ID, Lines: s.Lines})
			if err != nil {
				t.Fatal(err)
			}
			conf.add(v.Anomaly, s.Label)
		}
		return conf.f1(), b
	}
	off := fastTrain
	off.LexicalDims = -1
	without, b0 := f1(off)
	with, b1 := f1(fastTrain)
	t.Logf("F1 without the lexical half %.3f, with it %.3f", without, with)
	if b0.Manifest.Encoder.Lexical != nil || b0.Small.Dim() != enc.Dim() || b0.Coordinator.Dim() != enc.Dim() {
		t.Fatalf("LexicalDims -1: lexical %v, widths %d, %d", b0.Manifest.Encoder.Lexical, b0.Small.Dim(), b0.Coordinator.Dim())
	}
	// The small model takes both halves, the coordinator the encoder's.
	if lx := b1.Manifest.Encoder.Lexical; lx == nil || lx.Dims != lexical.DefaultDims || b1.Small.Dim() != enc.Dim()+lexical.DefaultDims || b1.Coordinator.Dim() != enc.Dim() {
		t.Fatalf("default: lexical %v, widths %d, %d", lx, b1.Small.Dim(), b1.Coordinator.Dim())
	}
	if without > 0.5 || with < 0.95 {
		t.Fatalf("F1 %.3f without the lexical half (want <= 0.5: the encoder cannot see the fault), %.3f with it (want >= 0.95)", without, with)
	}
}
