package encoder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/torchrt"
	"github.com/coorlog/coorlogprocessor/model"
)

var _ model.Encoder = (*Encoder)(nil)

func loadParity(t testing.TB, opts Options) *Encoder {
	t.Helper()
	enc, err := Load(parityDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}

func TestEmbedConcurrentMatchesSequential(t *testing.T) {
	enc := loadParity(t, Options{BatchSize: 4})
	ref := readParityRef(t)
	want, err := enc.Embed(context.Background(), ref.Sentences)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			// Each goroutine sees the sentences in a different order and
			// batch mix; the vectors must not depend on either.
			lines := append([]string{}, ref.Sentences[g%len(ref.Sentences):]...)
			lines = append(lines, ref.Sentences[:g%len(ref.Sentences)]...)
			for rep := 0; rep < 5; rep++ {
				got, err := enc.Embed(context.Background(), lines)
				if err != nil {
					errs <- err
					return
				}
				for i, v := range got {
					w := want[(i+g)%len(ref.Sentences)]
					for j := range v {
						if d := v[j] - w[j]; d > 1e-5 || d < -1e-5 {
							errs <- fmt.Errorf("goroutine %d line %d dim %d: %v vs %v", g, i, j, v[j], w[j])
							return
						}
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestEmbedContextEmptyAndClose(t *testing.T) {
	enc := loadParity(t, Options{BatchSize: 1})
	if enc.Dim() != 32 {
		t.Fatalf("Dim = %d, want 32", enc.Dim())
	}
	got, err := enc.Embed(context.Background(), nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty input: %v %v", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := enc.Embed(ctx, []string{"a", "b"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: got %v", err)
	}
	// Odd input is embedded, not refused: empty lines, control bytes, very
	// long lines (truncated to MaxSeqLen).
	odd := []string{"", "\x00\x01\x02", strings.Repeat("block ", 10000), "\xff\xfe"}
	vecs, err := enc.Embed(context.Background(), odd)
	if err != nil || len(vecs) != len(odd) {
		t.Fatalf("odd input: %d vectors, %v", len(vecs), err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := enc.Embed(context.Background(), []string{"a"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: got %v", err)
	}
}

func TestSetThreads(t *testing.T) {
	prev := torchrt.NumThreads()
	defer SetThreads(prev)
	if !SetThreads(1) {
		t.Log("libtorch does not use OpenBLAS here; only its own pool was set")
	}
	if got := torchrt.NumThreads(); got != 1 {
		t.Fatalf("libtorch threads = %d after SetThreads(1)", got)
	}
	if SetThreads(0) {
		t.Fatal("SetThreads(0) must leave the pools alone")
	}
}

// rssKiB reads the resident set size of this process.
func rssKiB(t testing.TB) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no VmRSS line")
	return 0
}

// 100k embeddings must not grow the resident memory: every tensor of a
// forward pass is freed when it ends, not when a finalizer gets to it.
func TestEmbedMemoryBounded(t *testing.T) {
	total := 100_000
	if testing.Short() || raceEnabled {
		total = 25_000
	}
	enc := loadParity(t, Options{BatchSize: 32})
	lines := make([]string, 1000)
	for i := range lines {
		lines[i] = fmt.Sprintf("PacketResponder %d for block blk_%d terminating", i%3, 1000003*i)
	}
	embed := func(n int) {
		for done := 0; done < n; done += len(lines) {
			if _, err := enc.Embed(context.Background(), lines); err != nil {
				t.Fatal(err)
			}
		}
	}
	embed(10_000) // warm up allocator pools
	runtime.GC()
	start := rssKiB(t)
	trace := []int{start}
	for done := 0; done < total; done += total / 5 {
		embed(total / 5)
		runtime.GC()
		trace = append(trace, rssKiB(t))
	}
	end := trace[len(trace)-1]
	t.Logf("VmRSS (KiB) after warm-up, then every %d embeddings: %v (%+d KiB over %d)", total/5, trace, end-start, total)
	// A leak of even one small tensor per line (>= 4 KiB: bert hidden state)
	// would add >= 400 MB over 100k lines; allow 16 MiB of allocator noise.
	if end-start > 16*1024 {
		t.Fatalf("RSS grew by %d KiB over %d embeddings", end-start, total)
	}

	// One line per forward pass: a per-operation leak shows here (gotch's
	// Go wrappers lose 32 bytes per op: ~2.5 KB per pass, 25 MB per 10k).
	one := Options{BatchSize: 1}
	enc1, err := NewEncoder(enc.bert, enc.tok, one)
	if err != nil {
		t.Fatal(err)
	}
	//
	// RSS is read after each fifth of the passes, and the growth is taken from
	// the end of the first fifth: right after the phase above, the GC hands
	// memory back and the first fifth takes it again (under -race and a CPU
	// hog that regrowth alone measured +10.8 MB in one run of five), while a
	// leak grows every fifth alike.
	passes := total / 10
	for i := 0; i < 1000; i++ {
		enc1.Embed(context.Background(), lines[i:i+1])
	}
	runtime.GC()
	trace = []int{rssKiB(t)}
	for done := 0; done < passes; done += passes / 5 {
		for i := done; i < done+passes/5; i++ {
			if _, err := enc1.Embed(context.Background(), lines[i%len(lines):i%len(lines)+1]); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		trace = append(trace, rssKiB(t))
	}
	start, end = trace[1], trace[len(trace)-1]
	t.Logf("VmRSS (KiB) after warm-up, then every %d single-line passes: %v (%+d KiB over the last %d)", passes/5, trace, end-start, passes*4/5)
	// gotch's per-op leak (2.5 KB per pass) would add >= 5 MB over 2,000 passes.
	if end-start > 4*1024 {
		t.Fatalf("RSS grew by %d KiB over %d single-line forward passes", end-start, passes*4/5)
	}
}
