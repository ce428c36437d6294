package model_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/normalize"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

var fastTrain = model.TrainOptions{
	Coordinator: coordinator.Config{Epochs: 30},
	Small:       smallmodel.Config{Epochs: 10},
	Version:     "test",
}

type fixture struct {
	enc          *hashEncoder
	b            *bundle.Bundle
	train, test  []model.LabelledSession
	evolvedTest  []model.LabelledSession
	trainSeconds float64
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

// trained is one bundle shared by the tests (training takes a few seconds):
// an 80/20 split of 1,000 normal and 250 anomalous synthetic HDFS sessions.
func trained(t *testing.T) fixture {
	t.Helper()
	fixOnce.Do(func() {
		g := &hdfs{r: rand.New(rand.NewSource(42))}
		all := g.sessions(1000, 250)
		fix.train, fix.test = all[:1000], all[1000:]
		ev := &hdfs{r: rand.New(rand.NewSource(43)), evolved: true}
		fix.evolvedTest = ev.sessions(160, 40)
		fix.enc = &hashEncoder{dim: 64}
		var log strings.Builder
		start := time.Now()
		fix.b, fixErr = model.Train(context.Background(), fix.enc, fix.train, nil, fastTrain, &log)
		fix.trainSeconds = time.Since(start).Seconds()
		if fixErr == nil && !strings.Contains(log.String(), "coordinator: tau") {
			fixErr = errors.New("no progress output: " + log.String())
		}
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

type confusion struct{ tp, fp, tn, fn int }

func (c *confusion) add(pred bool, label int) {
	switch {
	case pred && label == 1:
		c.tp++
	case pred:
		c.fp++
	case label == 1:
		c.fn++
	default:
		c.tn++
	}
}

func (c confusion) f1() float64 { return 2 * float64(c.tp) / float64(2*c.tp+c.fp+c.fn) }

func TestCascadeIntraVersionF1(t *testing.T) {
	f := trained(t)
	c, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc})
	if err != nil {
		t.Fatal(err)
	}
	var conf confusion
	for _, s := range f.test {
		v, err := c.Detect(context.Background(), model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil {
			t.Fatal(err)
		}
		if v.ModelVersion != "test" || v.Score < 0 || v.Score > 1 {
			t.Fatalf("verdict %+v", v)
		}
		if v.Evolved != (v.Route == model.RouteFallback) || (v.Route == model.RouteFallback && v.Reason != model.ReasonNoLLM) {
			t.Fatalf("no Judge: evolved sessions must be fallback with a reason: %+v", v)
		}
		conf.add(v.Anomaly, s.Label)
	}
	st := c.Stats()
	t.Logf("F1 %.4f %+v; evolved %d/%d; training %.1fs", conf.f1(), conf, st.Evolved, st.Sessions, f.trainSeconds)
	if conf.f1() < 0.98 {
		t.Fatalf("intra-version F1 %.4f < 0.98 (%+v)", conf.f1(), conf)
	}
	if st.Sessions != uint64(len(f.test)) || st.Routes[model.RouteSmallModel]+st.Routes[model.RouteFallback] != st.Sessions {
		t.Fatalf("stats %+v", st)
	}
	if share := float64(st.Evolved) / float64(st.Sessions); share > 0.25 {
		t.Fatalf("%.2f of same-version sessions marked evolved (tau is the 0.9 quantile)", share)
	}
	if st.Encode <= 0 || st.Coordinator <= 0 || st.SmallModel <= 0 {
		t.Fatalf("stage timers not running: %+v", st)
	}
}

// The AEM requirement: evolved sessions go to the LLM; after AEM
// learns them, the same sessions stay on the small model with the right
// verdict, and the persisted bundle carries the update.
func TestAEMTakesEvolvedSessionsOffTheLLM(t *testing.T) {
	f := trained(t)
	judge := &oracleJudge{labels: labelsOf(f.evolvedTest)}
	c, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc, Judge: judge, K: 5})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	upd := c.EnableAEM(evolve.Config{BatchSize: 1000}, c.PersistDir(dir))
	if c.EnableAEM(evolve.Config{}, nil) != upd {
		t.Fatal("EnableAEM twice gave two updaters")
	}
	ctx := context.Background()
	var before confusion
	var toLLM []model.LabelledSession
	shared := 0
	for _, s := range f.evolvedTest {
		v, err := c.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil {
			t.Fatal(err)
		}
		before.add(v.Anomaly, s.Label)
		switch v.Route {
		case model.RouteLLM:
			toLLM = append(toLLM, s)
			if v.Reason != "oracle" || v.Anomaly != (s.Label == 1) {
				t.Fatalf("LLM verdict not used: %+v", v)
			}
		case model.RouteCache:
			// The same vector as a session judged earlier in this batch: its
			// judgement, without a request.
			shared++
			if !strings.HasPrefix(v.Reason, model.ReasonPendingPrefix+" ") || v.Anomaly != (s.Label == 1) {
				t.Fatalf("pending judgement not used: %+v", v)
			}
		}
	}
	if len(toLLM)+shared < len(f.evolvedTest)*8/10 || len(toLLM) == 0 {
		t.Fatalf("only %d+%d of %d upgraded-version sessions judged by the LLM", len(toLLM), shared, len(f.evolvedTest))
	}
	if st := c.Stats(); st.PendingHits != uint64(shared) {
		t.Fatalf("PendingHits %d, %d sessions answered from pending findings", st.PendingHits, shared)
	}
	st := c.Stats()
	if st.LLMCalls != uint64(len(toLLM)) || st.PromptTokens != 100*uint64(len(toLLM)) || st.Findings != uint64(len(toLLM)) || st.LLM <= 0 {
		t.Fatalf("LLM counters %+v for %d calls", st, len(toLLM))
	}
	if nb := c.Neighbours(sessionVec(t, f, toLLM[0].Lines), 3); len(nb) != 3 || nb[0].Similarity < nb[2].Similarity || nb[0].ID == "" {
		t.Fatalf("Neighbours: %+v", nb)
	}
	if len(judge.lastNbr) != 5 || judge.lastNbr[0].Similarity < judge.lastNbr[4].Similarity || len(judge.lastNbr[0].Lines) == 0 {
		t.Fatalf("neighbours for the Judge: %+v", judge.lastNbr)
	}

	if err := upd.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c.ModelVersion() != "test+aem1" {
		t.Fatalf("version after AEM %s", c.ModelVersion())
	}
	calls := judge.calls
	var after confusion
	stillLLM := 0
	for _, s := range toLLM {
		v, err := c.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil {
			t.Fatal(err)
		}
		if v.Route != model.RouteSmallModel {
			stillLLM++
			continue
		}
		after.add(v.Anomaly, s.Label)
	}
	t.Logf("before AEM: %d/%d to the LLM (+%d with the vector of one judged), F1 with LLM %.3f; after: %d still evolved, small-model F1 %.3f %+v",
		len(toLLM), len(f.evolvedTest), shared, before.f1(), stillLLM, after.f1(), after)
	if stillLLM > len(toLLM)/20 {
		t.Fatalf("%d of %d learnt sessions still go to the LLM", stillLLM, len(toLLM))
	}
	if after.fp+after.fn > 0 {
		t.Fatalf("small model after AEM: %+v", after)
	}
	if judge.calls-calls != stillLLM {
		t.Fatalf("judge called %d times after AEM, %d sessions evolved", judge.calls-calls, stillLLM)
	}

	// Unseen sessions of the new version now mostly stay on the small model.
	ev := &hdfs{r: rand.New(rand.NewSource(44)), evolved: true}
	fresh := ev.sessions(80, 20)
	var freshConf confusion
	llm := 0
	for _, s := range fresh {
		v, _ := c.DetectFast(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		if v.Evolved {
			llm++
		}
		freshConf.add(v.Anomaly, s.Label)
	}
	t.Logf("unseen new-version sessions after AEM: %d/100 evolved, F1 %.3f", llm, freshConf.f1())
	if llm > 30 || freshConf.f1() < 0.9 {
		t.Fatalf("AEM did not generalise: %d/100 evolved, F1 %.3f", llm, freshConf.f1())
	}

	// The persisted bundle is the updated model.
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Updates != 1 || b.Manifest.ModelVersion != "test" || b.Memory.Len() <= f.b.Memory.Len() {
		t.Fatalf("persisted manifest %+v", b.Manifest)
	}
	c2, err := model.NewCascade(b, model.CascadeOptions{Encoder: f.enc})
	if err != nil || c2.ModelVersion() != "test+aem1" {
		t.Fatalf("reloaded cascade %v %v", err, c2.ModelVersion())
	}
}

func TestFallbacks(t *testing.T) {
	f := trained(t)
	ctx := context.Background()
	evolved := f.evolvedTest[0]
	judge := &oracleJudge{labels: labelsOf(f.evolvedTest), fail: errors.New("POST https://api.example/v1?key=sk-secret: 500")}
	c, _ := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc, Judge: judge})

	v, err := c.Detect(ctx, model.Session{ID: evolved.ID, Lines: evolved.Lines})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Evolved || v.Route != model.RouteFallback || v.Reason != model.ReasonLLMError || strings.Contains(v.Reason, "sk-") {
		t.Fatalf("judge failure: %+v", v)
	}
	if st := c.Stats(); st.JudgeErrors != 1 || st.LLMCalls != 1 {
		t.Fatalf("stats %+v", st)
	}
	judge.fail = context.DeadlineExceeded
	if v, _ := c.Detect(ctx, model.Session{ID: evolved.ID, Lines: evolved.Lines}); v.Reason != model.ReasonTimeout {
		t.Fatalf("timeout reason %q", v.Reason)
	}

	// DetectFast never calls the Judge.
	judge.fail = nil
	calls := judge.calls
	v, _ = c.DetectFast(ctx, model.Session{ID: evolved.ID, Lines: evolved.Lines})
	if v.Route != model.RouteFallback || v.Reason != model.ReasonFastPath || judge.calls != calls || c.Stats().FastPath != 1 {
		t.Fatalf("fast path: %+v, judge calls %d->%d", v, calls, judge.calls)
	}

	// Out-of-range evolution indices from the Judge are ignored.
	judge.badIdx = true
	c.EnableAEM(evolve.Config{BatchSize: 1000}, nil)
	if v, err := c.Detect(ctx, model.Session{ID: evolved.ID, Lines: evolved.Lines}); err != nil || v.Route != model.RouteLLM {
		t.Fatalf("bad indices: %+v %v", v, err)
	}
	if err := c.AEM().Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Empty session: documented fallback, no encoder call.
	calls64 := f.enc.calls.Load()
	if v, err := c.Detect(ctx, model.Session{ID: "empty"}); err != nil || v.Route != model.RouteFallback || v.Reason != model.ReasonEmpty || f.enc.calls.Load() != calls64 {
		t.Fatalf("empty: %+v %v", v, err)
	}
}

func TestEncoderFailures(t *testing.T) {
	f := trained(t)
	ctx := context.Background()
	s := model.Session{ID: "x", Lines: f.test[0].Lines}
	// Faults at Detect time (the start-up encoder check reports them too).
	bad := &hashEncoder{dim: 64, fail: errors.New("boom")}
	if _, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: bad, RequireEncoderMatch: true}); err == nil {
		t.Fatal("failing encoder passed the start-up check")
	}
	c, _ := model.NewCascade(f.b, model.CascadeOptions{Encoder: bad})
	if c.EncoderCheck() == nil {
		t.Fatal("failing encoder: no check result")
	}
	if _, err := c.Detect(ctx, s); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("encoder error: %v", err)
	}
	wrong := &hashEncoder{dim: 64, width: 10}
	c, _ = model.NewCascade(f.b, model.CascadeOptions{Encoder: wrong})
	if _, err := c.Detect(ctx, s); err == nil {
		t.Fatal("wrong-width vectors accepted")
	}
	c, _ = model.NewCascade(f.b, model.CascadeOptions{Encoder: &hashEncoder{dim: 64, nan: true}})
	if _, err := c.Detect(ctx, s); err == nil {
		t.Fatal("NaN vectors accepted")
	}
	if _, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: &hashEncoder{dim: 32}}); err == nil {
		t.Fatal("encoder of another width accepted")
	}
	if _, err := model.NewCascade(nil, model.CascadeOptions{Encoder: f.enc}); err == nil {
		t.Fatal("nil bundle accepted")
	}
	if _, err := model.NewCascade(f.b, model.CascadeOptions{}); err == nil {
		t.Fatal("nil encoder accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	c, _ = model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc})
	if _, err := c.Detect(cctx, s); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// Concurrent Detects while AEM swaps snapshots: run with -race.
func TestConcurrentDetectDuringAEM(t *testing.T) {
	f := trained(t)
	judge := &oracleJudge{labels: labelsOf(f.evolvedTest, f.test)}
	c, _ := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc, Judge: judge})
	upd := c.EnableAEM(evolve.Config{BatchSize: 8, Interval: 50 * time.Millisecond, CoordinatorEpochs: 3, SmallEpochs: 1}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go upd.Run(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 80; i += 4 {
				s := f.evolvedTest[i]
				v, err := c.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
				if err != nil {
					errs <- err
					return
				}
				if !strings.HasPrefix(v.ModelVersion, "test") {
					errs <- errors.New("version " + v.ModelVersion)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for upd.Stats().Updates == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if upd.Stats().Updates == 0 {
		t.Fatalf("no AEM update: %+v", upd.Stats())
	}
}

func TestSwap(t *testing.T) {
	f := trained(t)
	c, _ := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc})
	b2 := *f.b
	b2.Manifest.ModelVersion = "v2"
	if err := c.Swap(&b2); err != nil || c.ModelVersion() != "v2" {
		t.Fatalf("swap: %v %s", err, c.ModelVersion())
	}
	if err := c.Swap(&bundle.Bundle{}); err == nil {
		t.Fatal("incomplete bundle swapped in")
	}
	if got := c.Bundle(); got.Manifest.ModelVersion != "v2" || got.Memory != f.b.Memory {
		t.Fatalf("bundle of snapshot: %+v", got.Manifest)
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	enc := &hashEncoder{dim: 16}
	ctx := context.Background()
	if _, err := model.Train(ctx, enc, nil, nil, fastTrain, nil); err == nil {
		t.Fatal("no sessions accepted")
	}
	if _, err := model.Train(ctx, enc, []model.LabelledSession{{ID: "a", Label: 2, Lines: []string{"x"}}}, nil, fastTrain, nil); err == nil {
		t.Fatal("label 2 accepted")
	}
	if _, err := model.Train(ctx, enc, []model.LabelledSession{{ID: "a"}}, nil, fastTrain, nil); err == nil {
		t.Fatal("session without lines accepted")
	}
	if _, err := model.Train(ctx, &hashEncoder{dim: 16, fail: errors.New("down")}, []model.LabelledSession{{ID: "a", Lines: []string{"x"}}}, nil, fastTrain, nil); err == nil {
		t.Fatal("encoder failure not reported")
	}
}

// A bundle remembers a few training lines and their vectors; a cascade over
// an encoder that no longer reproduces them (other weights, pooling or
// normaliser) is reported at start (or refused) instead of silently routing
// everything to the LLM.
func TestEncoderCheck(t *testing.T) {
	f := trained(t)
	probe := f.b.Manifest.Encoder.Probe
	if len(probe) != 4 || len(probe[0].Vector) != 64 || probe[0].Line == "" {
		t.Fatalf("probe %+v", probe)
	}
	c, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc, RequireEncoderMatch: true})
	if err != nil || c.EncoderCheck() != nil {
		t.Fatalf("same encoder refused: %v", err)
	}
	other := &hashEncoder{dim: 64, salt: "v2"}
	_, err = model.NewCascade(f.b, model.CascadeOptions{Encoder: other, RequireEncoderMatch: true})
	if !errors.Is(err, model.ErrEncoderMismatch) || !strings.Contains(err.Error(), "cosine") {
		t.Fatalf("other encoder: %v", err)
	}
	c, err = model.NewCascade(f.b, model.CascadeOptions{Encoder: other})
	if err != nil || !errors.Is(c.EncoderCheck(), model.ErrEncoderMismatch) {
		t.Fatalf("mismatch without RequireEncoderMatch: %v, check %v", err, c.EncoderCheck())
	}
	// The probe survives a save and load.
	dir := t.TempDir()
	if _, err := bundle.Save(dir, f.b); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := model.CheckEncoder(context.Background(), f.enc, b.Manifest.Encoder); err != nil {
		t.Fatal(err)
	}
	if err := model.CheckEncoder(context.Background(), other, b.Manifest.Encoder); !errors.Is(err, model.ErrEncoderMismatch) {
		t.Fatalf("after reload: %v", err)
	}
}

// A session below tau whose kNN verdict rests on one memory label (an LLM
// error AEM learnt, next to correct items of the same content) goes to the
// Judge; TrustFragileVotes and DetectFast keep it on the small model.
func TestFragileVoteGoesToTheJudge(t *testing.T) {
	f := trained(t)
	ctx := context.Background()
	// A normal session below tau whose content the memory does not hold (a
	// held one takes its item's label, not a vote): a test session without
	// the lines of one of its events (the bundle pools distinct lines, so a
	// repeated line would not make new content).
	var s model.LabelledSession
search:
	for _, x := range f.test {
		if x.Label != 0 {
			continue
		}
		for _, drop := range x.Lines {
			var lines []string
			for _, l := range x.Lines {
				if normalize.Line(l) != normalize.Line(drop) {
					lines = append(lines, l)
				}
			}
			if len(lines) == 0 {
				continue
			}
			xv := sessionVec(t, f, lines)
			_, ev := f.b.Coordinator.Evolved(f.b.Manifest.Encoder.Lexical.Semantic(xv))
			hits := f.b.Memory.Search(f.b.Small.Project(xv), f.b.Memory.Config().K)
			if _, exact := f.b.Memory.Score(xv, hits); !ev && !exact {
				s = model.LabelledSession{ID: x.ID + "-", Label: 0, Lines: lines}
				break search
			}
		}
	}
	if s.ID == "" {
		t.Fatal("no normal session below tau outside the memory")
	}
	sv := sessionVec(t, f, s.Lines)
	// Five items next to it (not the same vector), two normal and three
	// anomalous: they are the five nearest, the vote is 3-2 and one label
	// decides it.
	items := []smallmodel.Item{}
	for i, lab := range []int{0, 0, 1, 1, 1} {
		items = append(items, smallmodel.Item{ID: fmt.Sprintf("near%d", i), Label: lab, Key: fmt.Sprintf("near%d", i), Lines: s.Lines, Vec: nearby(t, sv, int64(i))})
	}
	mem, err := f.b.Memory.With(f.b.Small, items)
	if err != nil {
		t.Fatal(err)
	}
	b := *f.b
	b.Memory = mem
	judge := &oracleJudge{labels: labelsOf([]model.LabelledSession{s})}

	for _, trust := range []bool{false, true} {
		c, err := model.NewCascade(&b, model.CascadeOptions{Encoder: f.enc, Judge: judge, TrustFragileVotes: trust})
		if err != nil {
			t.Fatal(err)
		}
		calls := judge.calls
		v, err := c.Detect(ctx, model.Session{ID: s.ID, Lines: s.Lines})
		if err != nil {
			t.Fatal(err)
		}
		if v.Evolved {
			t.Fatalf("trust %v: want a session below tau: %+v", trust, v)
		}
		if trust {
			// The small model's own score: the split vote.
			if v.Score <= 0 || v.Score >= 1 || v.Route != model.RouteSmallModel || judge.calls != calls || c.Stats().Fragile != 0 {
				t.Fatalf("TrustFragileVotes: %+v, judge calls %d->%d", v, calls, judge.calls)
			}
			continue
		}
		if v.Route != model.RouteLLM || v.Anomaly || judge.calls != calls+1 || c.Stats().Fragile != 1 {
			t.Fatalf("fragile vote: %+v, judge calls %d->%d, stats %+v", v, calls, judge.calls, c.Stats())
		}
		if v, _ := c.DetectFast(ctx, model.Session{ID: s.ID, Lines: s.Lines}); v.Route != model.RouteSmallModel || judge.calls != calls+1 {
			t.Fatalf("DetectFast: %+v", v)
		}
	}
}

// nearby returns a vector next to v, not the same (cosine 1 - 1e-5): v
// moved a little in a random direction, scaled so that the step is tiny next
// to the differences between sessions.
func nearby(t *testing.T, v []float32, seed int64) []float32 {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	dir := make([]float32, len(v))
	for i := range dir {
		dir[i] = float32(r.NormFloat64())
	}
	at := func(a float64) []float32 {
		out := slices.Clone(v)
		for i := range out {
			out[i] += float32(a) * dir[i]
		}
		return out
	}
	lo, hi := 0.0, 1.0
	for hi < 1e9 && vec.Cosine(v, at(hi)) > 1-1e-5 {
		hi *= 2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if vec.Cosine(v, at(mid)) > 1-1e-5 {
			lo = mid
		} else {
			hi = mid
		}
	}
	out := at(hi)
	if c := vec.Cosine(v, out); c >= smallmodel.SameVectorCosine || c < 0.9999 {
		t.Fatalf("nearby vector at cosine %g", c)
	}
	return out
}

// sessionVec is the session vector of lines as the models of the fixture's
// bundle take it.
func sessionVec(t *testing.T, f fixture, lines []string) []float32 {
	t.Helper()
	vs, err := f.enc.Embed(context.Background(), lines)
	if err != nil {
		t.Fatal(err)
	}
	return model.SessionVectorOf(f.b.Manifest.Encoder, vs, lines)
}

// A session above tau that an LLM-judged memory session explains (within tau
// in the coordinator's metric, same label as the vote) is not evolved: the
// small model routes it, with no LLM request. A training session near it does
// not explain it (the autoencoder, trained on those, has the last word; only
// the very content of one does), nor does a judged session whose label the
// vote contradicts.
func TestJudgedSessionWithinTauMakesASessionKnown(t *testing.T) {
	f := trained(t)
	ctx := context.Background()
	it := f.b.Memory.Item(0)
	s := f.evolvedTest[0]
	sv := sessionVec(t, f, s.Lines)
	judge := &oracleJudge{labels: labelsOf(f.train, f.evolvedTest)}
	// Each part sets tau below the reconstruction error of its session.
	var tau float64
	cascade := func(items ...smallmodel.Item) *model.Cascade {
		t.Helper()
		b := *f.b
		b.Coordinator = f.b.Coordinator.WithTau(tau)
		if len(items) > 0 {
			mem, err := b.Memory.With(b.Small, items)
			if err != nil {
				t.Fatal(err)
			}
			b.Memory = mem
		}
		c, err := model.NewCascade(&b, model.CascadeOptions{Encoder: f.enc, Judge: judge})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	detect := func(c *model.Cascade, id string, lines []string) model.Verdict {
		t.Helper()
		v, err := c.Detect(ctx, model.Session{ID: id, Lines: lines})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// A training session seen again: the memory holds this very content
	// with one label, so it is known and stays on the small model, whatever
	// the autoencoder says. With one line more it is other content: near
	// training sessions the autoencoder keeps the last word, and it goes to
	// the LLM.
	semantic := f.b.Manifest.Encoder.Lexical.Semantic // the coordinator's half
	other := append(slices.Clone(it.Lines), f.evolvedTest[1].Lines[0])
	tau = min(f.b.Coordinator.Error(semantic(it.Vec)), f.b.Coordinator.Error(semantic(sessionVec(t, f, other)))) / 2
	calls := judge.calls
	if v := detect(cascade(), it.ID, it.Lines); v.Evolved || v.Route != model.RouteSmallModel || judge.calls != calls {
		t.Fatalf("training session %s seen again: %+v", it.ID, v)
	}
	if v := detect(cascade(), it.ID, other); !v.Evolved || v.Route != model.RouteLLM || judge.calls != calls+1 {
		t.Fatalf("training session %s with a line more: %+v", it.ID, v)
	}

	// An upgraded session next to one the LLM judged with the label the vote
	// gives: known.
	tau = f.b.Coordinator.Error(semantic(sv)) / 2
	near := nearby(t, sv, 1)
	if d := f.b.Coordinator.Distance(semantic(sv), semantic(near)); !(d < tau/10) {
		t.Fatalf("nearby vector at distance %g, tau %g", d, tau)
	}
	judged := smallmodel.Item{ID: "judged", Key: "judged", Lines: s.Lines, Vec: near, Judged: true}
	probe, err := cascade(judged).DetectFast(ctx, model.Session{ID: s.ID, Lines: s.Lines})
	if err != nil {
		t.Fatal(err)
	}
	if probe.Anomaly {
		judged.Label = 1
	}
	c := cascade(judged)
	calls = judge.calls
	v := detect(c, s.ID, s.Lines)
	if !(v.RecError >= tau) || v.Evolved || v.Route != model.RouteSmallModel || judge.calls != calls || v.Anomaly != probe.Anomaly {
		t.Fatalf("session next to a judged one: %+v (vote %+v), judge calls %d->%d", v, probe, calls, judge.calls)
	}
	if st := c.Stats(); st.Known != 1 || st.Evolved != 0 {
		t.Fatalf("stats %+v", st)
	}

	// The judged session with the other label, where the vote still says
	// the same: the LLM decides.
	judged.Label = 1 - judged.Label
	c = cascade(judged)
	if v, _ := c.DetectFast(ctx, model.Session{ID: s.ID, Lines: s.Lines}); v.Anomaly != probe.Anomaly {
		t.Skipf("one item flips the vote in this fixture: %+v", v)
	}
	if v := detect(c, s.ID, s.Lines); !v.Evolved || v.Route != model.RouteLLM || judge.calls != calls+1 || c.Stats().Known != 0 {
		t.Fatalf("judged session with the other label: %+v, stats %+v", v, c.Stats())
	}
}

// A session whose content the memory holds takes that content's label, even
// when other contents around it outvote it; labelled both ways, the merged
// counts decide.
func TestMemoryLabelOfTheSameContentBeatsTheVote(t *testing.T) {
	f := trained(t)
	var s model.LabelledSession
	for _, x := range f.test {
		if x.Label == 0 {
			s = x
			break
		}
	}
	sv := sessionVec(t, f, s.Lines)
	mem0, err := smallmodel.NewMemory(smallmodel.MemoryConfig{K: 5}, f.b.Small, []smallmodel.Item{
		{ID: "own", Key: "own", Label: 0, Count: 3, Lines: s.Lines, Vec: sv},
		{ID: "a1", Key: "a1", Label: 1, Lines: s.Lines, Vec: nearby(t, sv, 1)},
		{ID: "a2", Key: "a2", Label: 1, Lines: s.Lines, Vec: nearby(t, sv, 2)},
		{ID: "a3", Key: "a3", Label: 1, Lines: s.Lines, Vec: nearby(t, sv, 3)},
		{ID: "a4", Key: "a4", Label: 1, Lines: s.Lines, Vec: nearby(t, sv, 4)},
	})
	if err != nil {
		t.Fatal(err)
	}
	hits := mem0.Search(f.b.Small.Project(sv), 5)
	if vote := mem0.Vote(hits); vote < 0.7 {
		t.Fatalf("fixture: the vote is %g, want the neighbours to outvote the own item", vote)
	}
	if score, exact := mem0.Score(sv, hits); score != 0 || !exact {
		t.Fatalf("Score = %g exact %v, want the own item's label 0", score, exact)
	}
	if _, anom, _ := mem0.Classify(f.b.Small, sv); anom {
		t.Fatal("Classify: the vote overruled the own item")
	}
	// The same content also labelled anomalous once: 3 to 1 for normal.
	mem1, err := mem0.With(f.b.Small, []smallmodel.Item{{ID: "own-a", Key: "own", Label: 1, Lines: s.Lines, Vec: sv}})
	if err != nil {
		t.Fatal(err)
	}
	hits = mem1.Search(f.b.Small.Project(sv), 5)
	if score, exact := mem1.Score(sv, hits); score != 0.25 || !exact {
		t.Fatalf("content labelled both ways: Score = %g exact %v, want 0.25", score, exact)
	}
	// A nearby vector is not the same content: the vote.
	other := nearby(t, sv, 9)
	hits = mem0.Search(f.b.Small.Project(other), 5)
	if score, exact := mem0.Score(other, hits); exact || score != mem0.Vote(hits) {
		t.Fatalf("nearby session: Score = %g exact %v", score, exact)
	}
}

// DetectDeferred gives the same final verdicts as Detect, in two parts: a
// session that needs the LLM gets a provisional verdict (route pending, not
// an anomaly) and finish asks the LLM and feeds AEM; every other session's
// verdict is final at once.
func TestDetectDeferred(t *testing.T) {
	f := trained(t)
	ctx := context.Background()
	newCascade := func() (*model.Cascade, *oracleJudge) {
		judge := &oracleJudge{labels: labelsOf(f.evolvedTest)}
		c, err := model.NewCascade(f.b, model.CascadeOptions{Encoder: f.enc, Judge: judge, K: 5})
		if err != nil {
			t.Fatal(err)
		}
		c.EnableAEM(evolve.Config{BatchSize: 1000}, nil)
		return c, judge
	}
	inline, _ := newCascade()
	deferred, judge := newCascade()
	deferredN := 0
	for _, s := range f.evolvedTest {
		ms := model.Session{ID: s.ID, Lines: s.Lines}
		want, err := inline.Detect(ctx, ms)
		if err != nil {
			t.Fatal(err)
		}
		v, finish, err := deferred.DetectDeferred(ctx, ms)
		if err != nil {
			t.Fatal(err)
		}
		if finish != nil {
			deferredN++
			if v.Route != model.RoutePending || v.Anomaly || v.Reason != model.ReasonAwaitingLLM {
				t.Fatalf("provisional verdict %+v", v)
			}
			calls := judge.calls
			v = finish(ctx)
			if judge.calls != calls+1 {
				t.Fatal("finish did not ask the LLM")
			}
		}
		if v.Route != want.Route || v.Anomaly != want.Anomaly || v.Reason != want.Reason {
			t.Fatalf("%s: deferred %+v, inline %+v", s.ID, v, want)
		}
	}
	if deferredN == 0 {
		t.Fatal("no session was deferred")
	}
	a, b := inline.Stats(), deferred.Stats()
	if a.Findings != b.Findings || a.LLMCalls != b.LLMCalls || a.Anomalies != b.Anomalies {
		t.Fatalf("stats differ: inline %+v, deferred %+v", a, b)
	}
}
