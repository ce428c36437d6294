package smallmodel

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// synth builds session vectors the way the cascade does (mean of line
// vectors): normal sessions follow one of a few workflows over normal
// templates; anomalous ones are a workflow plus one to three lines of an error
// template, a small shift of the mean that the projection must pick up.
type synth struct {
	r         *rand.Rand
	normal    [][]float32
	errs      [][]float32
	workflows [][]int
}

func newSynth(seed int64, dim int) *synth {
	r := rand.New(rand.NewSource(seed))
	unit := func() []float32 {
		v := make([]float32, dim)
		var n float64
		for i := range v {
			v[i] = float32(r.NormFloat64())
			n += float64(v[i] * v[i])
		}
		for i := range v {
			v[i] /= float32(math.Sqrt(n))
		}
		return v
	}
	s := &synth{r: r}
	for range 20 {
		s.normal = append(s.normal, unit())
	}
	for range 5 {
		s.errs = append(s.errs, unit())
	}
	for range 4 {
		s.workflows = append(s.workflows, r.Perm(20)[:6])
	}
	return s
}

func (s *synth) session(anomalous bool) []float32 {
	var lines [][]float32
	for _, t := range s.workflows[s.r.Intn(len(s.workflows))] {
		for range 1 + s.r.Intn(4) {
			lines = append(lines, s.normal[t])
		}
	}
	if anomalous {
		e := s.errs[s.r.Intn(len(s.errs))]
		for range 1 + s.r.Intn(3) {
			lines = append(lines, e)
		}
	}
	v := make([]float32, len(lines[0]))
	for _, l := range lines {
		for i, x := range l {
			v[i] += x / float32(len(lines))
		}
	}
	return v
}

func (s *synth) samples(nNormal, nAnom int) []Sample {
	out := make([]Sample, 0, nNormal+nAnom)
	for range nNormal {
		out = append(out, Sample{Vec: s.session(false), Label: 0})
	}
	for range nAnom {
		out = append(out, Sample{Vec: s.session(true), Label: 1})
	}
	s.r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func items(samples []Sample) []Item {
	out := make([]Item, len(samples))
	for i, s := range samples {
		out[i] = Item{ID: fmt.Sprint("s", i), Label: s.Label, Vec: s.Vec, Key: fmt.Sprint("k", i), Lines: []string{"line"}}
	}
	return out
}

func f1(mem *Memory, small *Model, test []Sample) float64 {
	var tp, fp, fn float64
	for _, s := range test {
		_, a, _ := mem.Classify(small, s.Vec)
		switch {
		case a && s.Label == 1:
			tp++
		case a:
			fp++
		case s.Label == 1:
			fn++
		}
	}
	return 2 * tp / (2*tp + fp + fn)
}

func TestTrainAndClassify(t *testing.T) {
	s := newSynth(1, 64)
	train := s.samples(2000, 200) // 10:1 imbalance
	test := s.samples(1000, 100)
	var last Progress
	m, err := Train(context.Background(), train, Config{Epochs: 10}, func(p Progress) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	if !m.Trained() || last.Epoch != 10 || !(last.Loss >= 0) {
		t.Fatalf("trained %v, last progress %+v", m.Trained(), last)
	}
	mem, err := NewMemory(MemoryConfig{}, m, items(train))
	if err != nil {
		t.Fatal(err)
	}
	if got := f1(mem, m, test); got < 0.97 {
		t.Fatalf("F1 %.3f, want >= 0.97", got)
	}
	// Projections are unit length.
	p := m.Project(test[0].Vec)
	var n float64
	for _, x := range p {
		n += float64(x * x)
	}
	if math.Abs(n-1) > 1e-4 || len(p) != 32 {
		t.Fatalf("projection of width %d and squared norm %g", len(p), n)
	}
	if m.Project(make([]float32, 3)) != nil {
		t.Fatal("wrong width projected")
	}
}

func TestSamplerBalancesClasses(t *testing.T) {
	samples := make([]Sample, 0, 1010)
	for i := range 1000 {
		samples = append(samples, Sample{Vec: []float32{float32(i)}, Label: 0})
	}
	for i := range 10 {
		samples = append(samples, Sample{Vec: []float32{float32(-i)}, Label: 1})
	}
	s := newSampler(samples)
	rows := s.batch(rand.New(rand.NewSource(1)), 10000)
	var anchorsAnom, pos, neg int
	for i, r := range rows {
		anchorLabel := 0
		if r.a[0] < 0 || (r.a[0] == 0 && i%2 == 0 && r.y == 1 && r.b[0] <= 0) {
			anchorLabel = 1
		}
		if i%2 == 0 {
			anchorsAnom += anchorLabel
			if r.y != 1 {
				t.Fatal("even rows must be positives")
			}
			pos++
		} else {
			if r.y != 0 {
				t.Fatal("odd rows must be negatives")
			}
			if (r.a[0] < 0) == (r.b[0] < 0) && r.a[0] != 0 && r.b[0] != 0 {
				t.Fatalf("negative pair of one class: %v %v", r.a, r.b)
			}
			neg++
		}
	}
	if share := float64(anchorsAnom) / float64(pos); share < 0.45 || share > 0.55 {
		t.Fatalf("minority class anchors %.3f of pairs, want about 0.5", share)
	}
	if pos != neg {
		t.Fatalf("%d positives, %d negatives", pos, neg)
	}
}

func TestSingleClass(t *testing.T) {
	s := newSynth(2, 16)
	train := s.samples(100, 0)
	m, err := Train(context.Background(), train, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Trained() {
		t.Fatal("one-class training set reported as trained")
	}
	mem, _ := NewMemory(MemoryConfig{}, m, items(train))
	score, anomaly, hits := mem.Classify(m, s.session(true))
	if score != 0 || anomaly || len(hits) != 5 {
		t.Fatalf("score %g anomaly %v hits %d", score, anomaly, len(hits))
	}
	// Fine-tuning with positives only has nothing to contrast: unchanged.
	n, err := m.FineTunePairs(context.Background(), []Pair{{A: train[0].Vec, B: train[1].Vec, Same: true}}, train, 3)
	if err != nil || n != m {
		t.Fatalf("fine-tune on one class: %v, same model %v", err, n == m)
	}
}

func TestFineTunePairsTeachesEvolution(t *testing.T) {
	s := newSynth(3, 64)
	train := s.samples(1000, 200)
	m, err := Train(context.Background(), train, Config{Epochs: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Evolution: every normal template gains a new component (a reworded
	// message); anomalous sessions evolve likewise. The evolved vectors are
	// paired with their old forms.
	shift := newSynth(99, 64).normal[0]
	evolve := func(v []float32) []float32 {
		out := make([]float32, len(v))
		for i := range v {
			out[i] = v[i] + 1.5*shift[i]
		}
		return out
	}
	var pairs []Pair
	var evolved []Sample
	for _, x := range train[:300] {
		e := evolve(x.Vec)
		pairs = append(pairs, Pair{A: x.Vec, B: e, Same: true})
		evolved = append(evolved, Sample{Vec: e, Label: x.Label})
	}
	before := m.Project(evolved[0].Vec)
	// AEM's replay is the memory, which by then holds the labelled evolved
	// sessions too.
	n, err := m.FineTunePairs(context.Background(), pairs, append(append([]Sample{}, train...), evolved...), 10)
	if err != nil {
		t.Fatal(err)
	}
	if after := m.Project(evolved[0].Vec); after[0] != before[0] {
		t.Fatal("receiver modified")
	}
	// The memory (old sessions only, re-projected) now classifies evolved
	// sessions it never stored by their old neighbours.
	memOld, _ := NewMemory(MemoryConfig{}, m, items(train))
	mem, err := memOld.Reproject(n)
	if err != nil {
		t.Fatal(err)
	}
	fresh := make([]Sample, 0, 400)
	for _, x := range s.samples(300, 100) {
		fresh = append(fresh, Sample{Vec: evolve(x.Vec), Label: x.Label})
	}
	beforeF1 := f1(memOld, m, fresh)
	afterF1 := f1(mem, n, fresh)
	t.Logf("F1 on evolved sessions: before %.3f after %.3f", beforeF1, afterF1)
	if afterF1 < 0.9 || afterF1 < beforeF1 {
		t.Fatalf("F1 on evolved sessions: before %.3f after %.3f", beforeF1, afterF1)
	}
	if got := f1(mem, n, s.samples(300, 100)); got < 0.9 {
		t.Fatalf("old sessions forgotten: F1 %.3f", got)
	}
}

func TestMemoryDedupEvictAndCaps(t *testing.T) {
	s := newSynth(4, 16)
	m, _ := Train(context.Background(), s.samples(50, 50), Config{Epochs: 1}, nil)
	v := func() []float32 { return s.session(false) }
	long := strings.Repeat("é", 400) // 800 bytes
	mem, err := NewMemory(MemoryConfig{MaxItems: 6, MaxLines: 2, MaxLineBytes: 11}, m, []Item{
		{ID: "a", Key: "same", Label: 0, Vec: v(), Lines: []string{long, "b", "c"}},
		{ID: "b", Key: "same", Label: 0, Vec: v()},
		{ID: "c", Key: "same", Label: 1, Vec: v()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if mem.Len() != 2 || mem.Item(0).Count != 2 || mem.Item(1).Count != 1 {
		t.Fatalf("dedup: %d items, counts %d %d", mem.Len(), mem.Item(0).Count, mem.Item(1).Count)
	}
	if l := mem.Item(0).Lines; len(l) != 2 || l[0] != strings.Repeat("é", 5)+"…" {
		t.Fatalf("capped lines: %q", l)
	}
	// Add 6 normals: 8 items > 6, the two least recently seen normals go.
	var add []Item
	for i := range 6 {
		add = append(add, Item{ID: fmt.Sprint("n", i), Key: fmt.Sprint("n", i), Label: 0, Vec: v()})
	}
	// Seeing "same"/normal again refreshes it, so n0 and n1 are the oldest.
	add = append(add, Item{ID: "again", Key: "same", Label: 0, Vec: v()})
	mem2, err := mem.With(m, add)
	if err != nil {
		t.Fatal(err)
	}
	if mem.Len() != 2 {
		t.Fatal("With modified the receiver")
	}
	var ids []string
	for i := range mem2.Len() {
		ids = append(ids, mem2.Item(i).ID)
	}
	if got := strings.Join(ids, ","); got != "a,c,n2,n3,n4,n5" {
		t.Fatalf("after eviction: %s", got)
	}
	if c := mem2.ClassCounts(); c[1] != 1 {
		t.Fatalf("anomalous item evicted: %v", c)
	}
	if _, err := mem.With(m, []Item{{Vec: []float32{1}}}); err == nil {
		t.Fatal("wrong width accepted")
	}
	if _, err := mem.With(m, []Item{{Vec: v(), Label: 2}}); err == nil {
		t.Fatal("label 2 accepted")
	}
	nan := v()
	nan[3] = float32(math.NaN())
	if _, err := mem.With(m, []Item{{Vec: nan}}); err == nil {
		t.Fatal("NaN vector accepted")
	}
}

func TestSearchIsExact(t *testing.T) {
	s := newSynth(5, 24)
	m, _ := Train(context.Background(), s.samples(100, 100), Config{Epochs: 1, Hidden: []int{16, 8}}, nil)
	mem, _ := NewMemory(MemoryConfig{}, m, items(s.samples(300, 30)))
	q := m.Project(s.session(true))
	hits := mem.Search(q, 7)
	best := math.Inf(-1)
	for i := range mem.Len() {
		p := mem.proj[i*8 : (i+1)*8]
		var d float64
		for j := range p {
			d += float64(p[j] * q[j])
		}
		best = max(best, d)
	}
	if len(hits) != 7 || math.Abs(float64(hits[0].Similarity)-best) > 1e-5 {
		t.Fatalf("top hit %v, brute force best %g", hits[0], best)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Similarity > hits[i-1].Similarity {
			t.Fatal("hits not sorted")
		}
	}
	if mem.Search(q[:3], 5) != nil || mem.Search(q, 0) != nil {
		t.Fatal("bad query not rejected")
	}
}

func TestVote(t *testing.T) {
	mem := &Memory{items: []Item{{Label: 0}, {Label: 1}, {Label: 1}}}
	if got := mem.Vote([]Hit{{0, 0.9}, {1, 0.3}}); math.Abs(got-0.25) > 1e-6 {
		t.Fatalf("weighted vote %g, want 0.25", got)
	}
	if got := mem.Vote([]Hit{{0, -0.5}, {1, -0.1}, {2, 0}}); math.Abs(got-2.0/3) > 1e-6 {
		t.Fatalf("all-zero weights %g, want plain share", got)
	}
	if mem.Vote(nil) != 0 {
		t.Fatal("empty vote")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	s := newSynth(6, 16)
	train := s.samples(80, 40)
	m, _ := Train(context.Background(), train, Config{Epochs: 2}, nil)
	mem, _ := NewMemory(MemoryConfig{K: 3}, m, items(train))
	mem, _ = mem.With(m, []Item{{ID: "judged", Key: "judged", Label: 1, Vec: train[0].Vec, Judged: true}})
	pm, _ := m.MarshalBinary()
	pmem, _ := mem.MarshalBinary()
	m2, err := Unmarshal(pm)
	if err != nil {
		t.Fatal(err)
	}
	mem2, err := UnmarshalMemory(pmem, m2)
	if err != nil {
		t.Fatal(err)
	}
	q := s.session(true)
	a, _, ha := mem.Classify(m, q)
	b, _, hb := mem2.Classify(m2, q)
	if a != b || len(ha) != 3 || ha[0] != hb[0] || mem2.Item(5).ID != mem.Item(5).ID {
		t.Fatal("round trip changed the classifier")
	}
	if n := mem2.Len(); n != mem.Len() || !mem2.Item(n-1).Judged || mem2.Item(0).Judged {
		t.Fatal("round trip lost which item the LLM judged")
	}
	for cut := 0; cut < len(pmem); cut += 97 {
		if _, err := UnmarshalMemory(pmem[:cut], m2); err == nil {
			t.Fatalf("memory truncated at %d accepted", cut)
		}
	}
	for cut := 0; cut < len(pm); cut += 31 {
		if _, err := Unmarshal(pm[:cut]); err == nil {
			t.Fatalf("model truncated at %d accepted", cut)
		}
	}
	other, _ := Train(context.Background(), newSynth(7, 8).samples(10, 10), Config{Epochs: 1}, nil)
	if _, err := UnmarshalMemory(pmem, other); err == nil {
		t.Fatal("memory accepted for a model of another width")
	}
}

func TestBadTrainingInput(t *testing.T) {
	ctx := context.Background()
	for name, set := range map[string][]Sample{
		"empty":  nil,
		"label":  {{Vec: []float32{1}, Label: 3}},
		"ragged": {{Vec: []float32{1}}, {Vec: []float32{1, 2}}},
		"nan":    {{Vec: []float32{float32(math.NaN())}}},
	} {
		if _, err := Train(ctx, set, Config{}, nil); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := Train(ctx, []Sample{{Vec: []float32{1}}}, Config{Margin: -1}, nil); err == nil {
		t.Error("negative margin accepted")
	}
}

// BenchmarkDetect10k is the small model's cost per session, excluding
// encoding: project the session vector, search 10,000 memory items, vote.
// Besides ns/op (wall time) it reports cpu-ns/op, the thread's CPU time,
// which stays meaningful on an oversubscribed machine.
func BenchmarkDetect10k(b *testing.B) {
	for _, dim := range []int{128, 256, 768} {
		b.Run(fmt.Sprintf("dim%d", dim), func(b *testing.B) {
			s := newSynth(8, dim)
			m, err := Train(context.Background(), s.samples(200, 50), Config{Epochs: 1}, nil)
			if err != nil {
				b.Fatal(err)
			}
			train := s.samples(9000, 1000)
			its := items(train)
			mem, err := NewMemory(MemoryConfig{}, m, its)
			if err != nil {
				b.Fatal(err)
			}
			if mem.Len() != 10000 {
				b.Fatalf("memory holds %d", mem.Len())
			}
			q := s.session(true)
			b.ReportAllocs()
			measureCPU(b, func() { mem.Classify(m, q) })
		})
	}
}

func TestFragile(t *testing.T) {
	mem := &Memory{cfg: MemoryConfig{}.WithDefaults(), items: []Item{{Label: 0}, {Label: 0}, {Label: 0}, {Label: 1}, {Label: 1}}}
	for _, c := range []struct {
		name string
		hits []Hit
		want bool
	}{
		// Unanimous and 4-1 votes survive any one relabelling.
		{"unanimous", []Hit{{0, 1}, {1, 1}, {2, 0.9}}, false},
		{"four to one", []Hit{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {0, 1}}, false},
		// 3 normal vs 2 anomalous: relabelling one normal hit flips it.
		{"three to two", []Hit{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}}, true},
		// The seed-43 case: one wrong label at similarity 1 among two normal
		// items of the same content, two anomalous items at 0.95: an anomaly
		// verdict that one label decides.
		{"one label decides an anomaly", []Hit{{0, 1}, {1, 1}, {3, 1}, {4, 0.95}, {3, 0.95}}, true},
		// A dissenting hit far away does not make a verdict fragile.
		{"weak dissent", []Hit{{0, 1}, {1, 1}, {2, 1}, {3, 0.1}}, false},
		// Two normal vs one weak anomalous hit: relabelling either normal flips it.
		{"two to one weak", []Hit{{0, 1}, {1, 1}, {3, 0.1}}, true},
		// All weights 0: plain share, 2-1 rests on one label.
		{"plain two to one", []Hit{{0, -0.2}, {1, 0}, {3, -1}}, true},
		// Fewer than 3 hits: no majority to speak of.
		{"two hits", []Hit{{0, 1}, {3, 1}}, false},
		{"none", nil, false},
	} {
		if got := mem.Fragile(c.hits); got != c.want {
			t.Errorf("%s: Fragile = %v (vote %.3f), want %v", c.name, got, mem.Vote(c.hits), c.want)
		}
	}
}

// An operator item is found for its vector however many items share it (a
// search breaks ties for older items), survives the codec, and leaves with
// WithoutOperator, which keeps every other item.
func TestOperatorItems(t *testing.T) {
	s := newSynth(3, 16)
	m, _ := Train(context.Background(), s.samples(50, 50), Config{Epochs: 1}, nil)
	v := s.session(false)
	var its []Item
	for i := range 8 {
		its = append(its, Item{ID: fmt.Sprint("same-", i), Key: fmt.Sprint("k", i), Vec: v})
	}
	mem, err := NewMemory(MemoryConfig{K: 3}, m, its)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mem.OperatorLabel(v); ok {
		t.Fatal("no operator item yet")
	}
	mem, err = mem.With(m, []Item{{ID: "fb-1", Key: "k0", Label: 1, Vec: v, Operator: true}})
	if err != nil {
		t.Fatal(err)
	}
	if mem.Len() != 9 {
		t.Fatalf("an operator item is kept apart from the items of its key: %d items", mem.Len())
	}
	it, ok := mem.OperatorLabel(v)
	if !ok || it.ID != "fb-1" || it.Label != 1 {
		t.Fatalf("operator item not found among 9 items of one vector: %+v %v", it, ok)
	}
	p, err := mem.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalMemory(p, m)
	if err != nil {
		t.Fatal(err)
	}
	if it, ok := back.OperatorLabel(v); !ok || it.ID != "fb-1" {
		t.Fatalf("after the codec: %+v %v", it, ok)
	}
	without := back.WithoutOperator("k0")
	if _, ok := without.OperatorLabel(v); ok || without.Len() != 8 {
		t.Fatalf("WithoutOperator: %d items, operator still found %v", without.Len(), ok)
	}

	// Eviction never takes an operator item, however old.
	small, err := NewMemory(MemoryConfig{K: 3, MaxItems: 4}, m, []Item{{ID: "fb-1", Key: "op", Label: 1, Vec: v, Operator: true}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if small, err = small.With(m, []Item{{ID: fmt.Sprint("n", i), Key: fmt.Sprint("n", i), Label: i % 2, Vec: s.session(false)}}); err != nil {
			t.Fatal(err)
		}
	}
	if it, ok := small.OperatorLabel(v); !ok || it.ID != "fb-1" || small.Len() != 4 {
		t.Fatalf("after eviction: %d items, operator item %v", small.Len(), ok)
	}
}
