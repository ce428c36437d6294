package embedcache

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// fakeEncoder returns a vector derived from the text's hash, and records calls.
type fakeEncoder struct {
	dim   int
	mu    sync.Mutex
	calls [][]string
	err   error
	short bool // return one vector too few
	bad   bool // return vectors of the wrong size
}

func vecOf(s string, dim int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(s))
	x := h.Sum64()
	v := make([]float32, dim)
	for i := range v {
		x = x*6364136223846793005 + 1442695040888963407
		v[i] = float32(x>>40) / float32(1<<24)
	}
	return v
}

func (f *fakeEncoder) Dim() int { return f.dim }

func (f *fakeEncoder) Embed(ctx context.Context, lines []string) ([][]float32, error) {
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(lines))
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := make([][]float32, 0, len(lines))
	for _, l := range lines {
		d := f.dim
		if f.bad {
			d--
		}
		out = append(out, vecOf(l, d))
	}
	if f.short {
		out = out[:len(out)-1]
	}
	return out, nil
}

func (f *fakeEncoder) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []string
	for _, c := range f.calls {
		all = append(all, c...)
	}
	return all
}

func TestBatchesOnlyDistinctMisses(t *testing.T) {
	f := &fakeEncoder{dim: 8}
	c := New(f, 100)
	ctx := context.Background()
	lines := []string{
		"PacketResponder 1 for block blk_38865049064139660 terminating",
		"PacketResponder 2 for block blk_-6952295868487656571 terminating",
		"Receiving block blk_1 src: /10.0.0.1:50010",
		"PacketResponder 0 for block blk_123456789012 terminating",
	}
	orig := slices.Clone(lines)
	got, err := c.Embed(ctx, lines)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lines, orig) {
		t.Fatal("raw lines were altered")
	}
	if len(f.calls) != 1 || len(f.calls[0]) != 2 {
		t.Fatalf("inner calls %q, want one batch of the 2 distinct templates", f.calls)
	}
	for _, k := range f.calls[0] {
		if k != normalize.Line(k) || strings.ContainsAny(k, "0123456789") {
			t.Errorf("inner encoder got %q, want normalised text", k)
		}
	}
	if !slices.Equal(got[0], got[1]) || !slices.Equal(got[0], got[3]) || slices.Equal(got[0], got[2]) {
		t.Error("lines of one template must share one vector, others not")
	}
	if want := vecOf(normalize.Line(lines[2]), 8); !slices.Equal(got[2], want) {
		t.Errorf("vector %v, want the inner encoder's %v", got[2], want)
	}
	if h, m, n := c.Stats(); h != 2 || m != 2 || n != 2 {
		t.Errorf("Stats = %d hits, %d misses, %d entries; want 2, 2, 2", h, m, n)
	}

	// Everything cached now: no inner call.
	if _, err := c.Embed(ctx, []string{"PacketResponder 9 for block blk_5555555555 terminating", lines[2]}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 {
		t.Fatalf("cached lines reached the inner encoder: %q", f.calls[1:])
	}
	if h, m, _ := c.Stats(); h != 4 || m != 2 {
		t.Errorf("Stats = %d hits, %d misses; want 4, 2", h, m)
	}
}

func TestReturnedVectorsAreCopies(t *testing.T) {
	f := &fakeEncoder{dim: 4}
	c := New(f, 10)
	ctx := context.Background()
	a, _ := c.Embed(ctx, []string{"x 1", "x 2"})
	a[0][0], a[1][1] = 42, 42
	b, _ := c.Embed(ctx, []string{"x 3"})
	if want := vecOf("x <NUM>", 4); !slices.Equal(b[0], want) {
		t.Fatalf("cache corrupted by a caller: %v, want %v", b[0], want)
	}
}

func TestLRUEviction(t *testing.T) {
	f := &fakeEncoder{dim: 2}
	c := New(f, 2)
	ctx := context.Background()
	embed := func(s string) {
		if _, err := c.Embed(ctx, []string{s}); err != nil {
			t.Fatal(err)
		}
	}
	embed("alpha")
	embed("beta")
	embed("alpha") // alpha is now the most recent
	embed("gamma") // evicts beta
	if _, _, n := c.Stats(); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	before := len(f.sent())
	embed("alpha")
	if len(f.sent()) != before {
		t.Error("alpha was evicted; the least recently used (beta) should have been")
	}
	embed("beta")
	if len(f.sent()) != before+1 {
		t.Error("beta was still cached after eviction")
	}
}

func TestShardedSizeIsBounded(t *testing.T) {
	f := &fakeEncoder{dim: 2}
	const size = 2000
	c := New(f, size)
	batch := make([]string, 0, 100)
	for i := 0; i < 5000; i++ {
		batch = append(batch, fmt.Sprintf("template%c%c%c", 'a'+i%26, 'a'+i/26%26, 'a'+i/676%26))
		if len(batch) == cap(batch) {
			if _, err := c.Embed(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, m, n := c.Stats(); n != size || m != 5000 {
		t.Fatalf("%d entries after %d distinct lines, want exactly %d", n, m, size)
	}
	total := 0
	for i := range New(f, 0).shards {
		total += New(f, 0).shards[i].lru.Cap()
	}
	if total != DefaultSize {
		t.Errorf("size 0 holds %d entries, want DefaultSize %d", total, DefaultSize)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	if _, err := New(&fakeEncoder{dim: 2, err: boom}, 4).Embed(ctx, []string{"a"}); !errors.Is(err, boom) || !strings.Contains(err.Error(), "uncached") {
		t.Errorf("inner error not wrapped: %v", err)
	}
	if _, err := New(&fakeEncoder{dim: 2, short: true}, 4).Embed(ctx, []string{"a", "b"}); err == nil {
		t.Error("short answer accepted")
	}
	if _, err := New(&fakeEncoder{dim: 2, bad: true}, 4).Embed(ctx, []string{"a"}); err == nil {
		t.Error("wrong dimension accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := New(&fakeEncoder{dim: 2}, 4).Embed(cctx, []string{"a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	// A failed call caches nothing.
	f := &fakeEncoder{dim: 2, err: boom}
	c := New(f, 4)
	_, _ = c.Embed(ctx, []string{"a"})
	if _, _, n := c.Stats(); n != 0 {
		t.Errorf("%d entries cached by a failed call", n)
	}
	if v, err := c.Embed(ctx, nil); err != nil || len(v) != 0 {
		t.Errorf("empty input: %v %v", v, err)
	}
}

func TestConcurrent(t *testing.T) {
	f := &fakeEncoder{dim: 16}
	c := New(f, 1500) // sharded, and smaller than the 2000 templates: evictions race with hits
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				var batch []string
				for j := 0; j < 8; j++ {
					n := (g*7919 + i*31 + j*17) % 2000
					batch = append(batch, fmt.Sprintf("evt%c%c%c value %d", 'a'+n%26, 'a'+n/26%26, 'a'+n/676, i*j))
				}
				vecs, err := c.Embed(ctx, batch)
				if err != nil {
					t.Error(err)
					return
				}
				for j, v := range vecs {
					if want := vecOf(normalize.Line(batch[j]), 16); !slices.Equal(v, want) {
						t.Errorf("goroutine %d: wrong vector for %q", g, batch[j])
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	h, m, n := c.Stats()
	if h+m == 0 || n > 1500 {
		t.Errorf("Stats = %d hits, %d misses, %d entries", h, m, n)
	}
}

// BenchmarkCachedLine is the cost of one cached line, normalisation included:
// each call embeds one raw line whose template is cached but whose text (block
// id, address, sizes) is new.
func BenchmarkCachedLine(b *testing.B) {
	c, lines := warmCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Embed(ctx, lines[i%len(lines):i%len(lines)+1]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCachedBatch32 embeds 32 cached lines per call; ns/op / 32 is the
// per-line cost.
func BenchmarkCachedBatch32(b *testing.B) {
	c, lines := warmCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		o := (i * 32) % (len(lines) - 32)
		if _, err := c.Embed(ctx, lines[o:o+32]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*32), "ns/line")
}

func warmCache(b *testing.B) (*Cache, []string) {
	tpls := []string{
		// [1] time, [2] pid, [3] small int, [4] block id, [5] [6] address bytes, [7] port or size
		"081109 %[1]06d %[2]d INFO dfs.DataNode$PacketResponder: PacketResponder %[3]d for block blk_%[4]d terminating",
		"081109 %[1]06d %[2]d INFO dfs.DataNode$DataXceiver: Receiving block blk_%[4]d src: /10.251.%[5]d.%[6]d:%[7]d dest: /10.251.71.16:50010",
		"081109 %[1]06d %[2]d INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.%[5]d.%[6]d:50010 is added to blk_%[4]d size %[7]d",
		"081109 %[1]06d %[2]d INFO dfs.DataNode$PacketResponder: Received block blk_%[4]d of size %[7]d from /10.250.%[5]d.%[6]d",
	}
	var lines []string
	for i := 0; i < 4096; i++ {
		t := tpls[i%len(tpls)]
		lines = append(lines, fmt.Sprintf(t, 200000+i, i%300, i%3, -8e17+int64(i)*7919, i%255, (i*7)%255, 40000+i))
	}
	c := New(&fakeEncoder{dim: 128}, 0)
	if _, err := c.Embed(context.Background(), lines[:1]); err != nil {
		b.Fatal(err)
	}
	if _, m, _ := c.Stats(); m != 1 {
		b.Fatal("setup: miss expected")
	}
	if _, err := c.Embed(context.Background(), lines); err != nil {
		b.Fatal(err)
	}
	if _, m, _ := c.Stats(); m != uint64(len(tpls)) {
		b.Fatalf("setup: %d distinct normalised lines, want %d templates", m, len(tpls))
	}
	return c, lines
}

// racingEncoder lets two calls miss the same line together and answers each
// with other last bits, as an encoder does for a line computed in batches of
// other shapes.
type racingEncoder struct {
	arrived sync.WaitGroup
	mu      sync.Mutex
	n       float32
}

func (r *racingEncoder) Dim() int { return 2 }

func (r *racingEncoder) Embed(_ context.Context, lines []string) ([][]float32, error) {
	r.arrived.Done()
	r.arrived.Wait() // both callers are past their lookups
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]float32, len(lines))
	for i := range lines {
		r.n++
		out[i] = []float32{1, 1e-7 * r.n}
	}
	return out, nil
}

// Two callers that embed the same uncached line at once get the same bits:
// the first vector stored stays, and later lookups return it too.
func TestConcurrentMissesOfALineGetTheSameVector(t *testing.T) {
	inner := &racingEncoder{}
	inner.arrived.Add(2)
	c := New(inner, 16)
	var wg sync.WaitGroup
	got := make([][][]float32, 2)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Embed(context.Background(), []string{"connection closed", "connection closed"})
			if err != nil {
				t.Error(err)
			}
			got[g] = v
		}()
	}
	wg.Wait()
	if inner.n != 2 {
		t.Fatalf("the inner encoder computed the line %v times, want 2 (both calls missed)", inner.n)
	}
	again, err := c.Embed(context.Background(), []string{"connection closed"})
	if err != nil {
		t.Fatal(err)
	}
	for g, v := range got {
		for i := range v {
			if !slices.Equal(v[i], again[0]) {
				t.Fatalf("caller %d, line %d: %v, the cache holds %v", g, i, v[i], again[0])
			}
		}
	}
}

// EmbedShared gives the same vectors as Embed, as the cache's own slices
// (the same backing array for the same line), and fills the cache the same.
func TestEmbedSharedMatchesEmbed(t *testing.T) {
	ctx := context.Background()
	lines := []string{"Receiving block blk_1 src /10.0.0.1", "Receiving block blk_2 src /10.0.0.2", "PacketResponder 1 terminating", "Receiving block blk_1 src /10.0.0.1"}
	for _, warm := range []bool{false, true} {
		a, b := New(&fakeEncoder{dim: 4}, 16), New(&fakeEncoder{dim: 4}, 16)
		if warm {
			_, _ = a.Embed(ctx, lines[2:3])
			_, _ = b.Embed(ctx, lines[2:3])
		}
		copies, err := a.Embed(ctx, lines)
		if err != nil {
			t.Fatal(err)
		}
		shared, err := b.EmbedShared(ctx, lines)
		if err != nil {
			t.Fatal(err)
		}
		for i := range lines {
			if !slices.Equal(copies[i], shared[i]) {
				t.Fatalf("warm %v, line %d: %v vs %v", warm, i, copies[i], shared[i])
			}
		}
		// Lines of one template share one vector, not a copy each.
		if &shared[0][0] != &shared[1][0] || &shared[0][0] != &shared[3][0] {
			t.Fatal("shared vectors of one normalised line are not the cache's one slice")
		}
		again, _ := b.EmbedShared(ctx, lines[:1])
		if &again[0][0] != &shared[0][0] {
			t.Fatal("a second call does not get the cached slice")
		}
		if _, _, n := b.Stats(); n != 2 {
			t.Fatalf("%d entries, want 2", n)
		}
	}
}

// EmbedSharedKeys takes the normalised lines from its caller and gives what
// EmbedShared gives; keys of another length are an error, not a panic.
func TestEmbedSharedKeysMatchesEmbedShared(t *testing.T) {
	ctx := context.Background()
	lines := []string{"Receiving block blk_1 src /10.0.0.1", "PacketResponder 1 terminating", "Receiving block blk_2 src /10.0.0.2"}
	keys := make([]string, len(lines))
	for i, l := range lines {
		keys[i] = normalize.Line(l)
	}
	a, b := New(&fakeEncoder{dim: 4}, 16), New(&fakeEncoder{dim: 4}, 16)
	want, err := a.EmbedShared(ctx, lines)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.EmbedSharedKeys(ctx, lines, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lines {
		if !slices.Equal(want[i], got[i]) {
			t.Fatalf("line %d: %v vs %v", i, got[i], want[i])
		}
	}
	if _, _, n := b.Stats(); n != 2 {
		t.Fatalf("%d entries, want 2 (the two blocks share a key)", n)
	}
	if _, err := b.EmbedSharedKeys(ctx, lines, keys[:1]); err == nil {
		t.Fatal("1 key for 3 lines: no error")
	}
}
