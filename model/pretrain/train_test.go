package pretrain

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/model/encoder"
)

// tinyCorpus writes a synthetic log with a few templates and variable fields.
func tinyCorpus(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	tpls := []string{
		"INFO dfs.DataNode: Receiving block blk_%d src: /10.0.%d.%d:50010 dest: /10.0.0.1:50010",
		"INFO dfs.DataNode: PacketResponder %d for block blk_%d terminating",
		"WARN dfs.DataNode: Got exception while serving blk_%d to /10.0.%d.%d",
		"INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/part-%05d. blk_%d",
		"ERROR sshd[%d]: Failed password for invalid user admin from 10.1.%d.%d port %d ssh2",
		"INFO nova.compute: Took %d.%d seconds to build instance %d",
		"kernel: CPU%d: Core temperature above threshold, cpu clock throttled (total events = %d)",
		"INFO storage.MemoryStore: Block broadcast_%d stored as values in memory (estimated size %d.%d KB, free %d.%d MB)",
	}
	var b strings.Builder
	for i := 0; i < 600; i++ {
		tpl := tpls[i%len(tpls)]
		args := make([]any, strings.Count(tpl, "%"))
		for j := range args {
			args[j] = rng.IntN(250)
		}
		fmt.Fprintf(&b, tpl+"\n", args...)
		// Words vary too, so that there is more than one line per template.
		fmt.Fprintf(&b, "INFO worker-%c%c: task %s finished in state %s\n", 'a'+rng.IntN(26), 'a'+rng.IntN(26),
			[]string{"map", "reduce", "shuffle", "merge"}[rng.IntN(4)], []string{"ok", "failed", "killed"}[rng.IntN(3)])
	}
	path := filepath.Join(dir, "tiny.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func tinyOptions(corpus, out string, epochs int) Options {
	return Options{Corpus: corpus, Out: out, Epochs: epochs, BatchSize: 16, LR: 3e-3, VocabSize: 400,
		Hidden: 32, Layers: 1, Heads: 2, Intermediate: 64, MaxPosition: 64, MaxSeqLen: 48, ValPercent: 10, Seed: 3, LogEvery: 5, Threads: 1, ContrastiveEpochs: -1}
}

func TestRunTrainsAndWritesCheckpoint(t *testing.T) {
	corpus := tinyCorpus(t)
	out := t.TempDir()
	var log bytes.Buffer
	o := tinyOptions(corpus, out, 4)
	o.ContrastiveEpochs, o.ContrastiveBatch, o.ContrastiveLR = 3, 32, 1e-3
	if err := Run(context.Background(), o, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, want := range []string{"corpus:", "vocabulary:", "model:", "tok/s", "eta", "val "} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("progress output lacks %q:\n%s", want, log.String())
		}
	}
	for _, f := range []string{"model/config.json", "model/model.safetensors", "model/vocab.txt", "model/tokenizer_config.json", "loss.png", "history.csv", "train/state.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	// The loss falls: the last epoch's validation loss is well below the first.
	vals := valColumn(t, filepath.Join(out, "history.csv"), "mlm")
	if len(vals) != 4 || !(vals[3] < vals[0]-0.5) {
		t.Errorf("validation MLM loss per epoch %v: did not fall", vals)
	}
	cvals := valColumn(t, filepath.Join(out, "history.csv"), "contrastive")
	if len(cvals) != 3 || !(cvals[2] < cvals[0]) {
		t.Errorf("validation contrastive loss per epoch %v: did not fall", cvals)
	}
	// The contrastive stage spreads the line vectors: distinct lines are
	// less similar on average than after MLM alone.
	lines := []string{
		"INFO dfs.DataNode: PacketResponder <NUM> for block blk_<ID> terminating",
		"ERROR sshd[<NUM>]: Failed password for invalid user admin from <IP> port <NUM> ssh<NUM>",
		"kernel: CPU<NUM>: Core temperature above threshold, cpu clock throttled (total events = <NUM>)",
		"INFO nova.compute: Took <DUR> to build instance <NUM>",
	}
	if before, after := meanCosine(t, filepath.Join(out, "model-mlm"), lines), meanCosine(t, filepath.Join(out, "model"), lines); !(after < before) {
		t.Errorf("mean cosine between distinct lines: %.3f after MLM, %.3f after the contrastive stage; want lower", before, after)
	}
	// The checkpoint is an ordinary Hugging Face BERT for the encoder.
	enc, err := encoder.Load(filepath.Join(out, "model"), encoder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	v, err := enc.Embed(context.Background(), []string{"INFO dfs.DataNode: PacketResponder <NUM> for block blk_<ID> terminating"})
	if err != nil || len(v) != 1 || len(v[0]) != 32 {
		t.Fatalf("embed with the trained checkpoint: %v %v", v, err)
	}
}

// cancelAfterEpoch cancels a run once the end-of-epoch line of epoch n is printed.
type cancelAfterEpoch struct {
	n      int
	cancel context.CancelFunc
	buf    bytes.Buffer
}

func (c *cancelAfterEpoch) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if strings.Contains(string(p), fmt.Sprintf("epoch %3d/", c.n)) && strings.Contains(string(p), " val ") {
		c.cancel()
	}
	return len(p), nil
}

func meanCosine(t *testing.T, dir string, lines []string) float64 {
	enc, err := encoder.Load(dir, encoder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	v, err := enc.Embed(context.Background(), lines)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	var n int
	for i := range v {
		for j := i + 1; j < len(v); j++ {
			var ab, aa, bb float64
			for k := range v[i] {
				ab += float64(v[i][k] * v[j][k])
				aa += float64(v[i][k] * v[i][k])
				bb += float64(v[j][k] * v[j][k])
			}
			sum += ab / math.Sqrt(aa*bb)
			n++
		}
	}
	return sum / float64(n)
}

// TestResumeRepeatsUninterruptedRun: a run interrupted after epoch 1 (the
// MLM stage) and resumed (the contrastive stage) gives the same weights, bit for bit, as an uninterrupted run.
func TestResumeRepeatsUninterruptedRun(t *testing.T) {
	corpus := tinyCorpus(t)
	full, split := t.TempDir(), t.TempDir()
	ctx := context.Background()
	opts := func(out string) Options {
		o := tinyOptions(corpus, out, 1)
		o.ContrastiveEpochs, o.ContrastiveBatch = 1, 16
		return o
	}
	if err := Run(ctx, opts(full), nil); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := &cancelAfterEpoch{n: 1, cancel: cancel}
	if err := Run(cctx, opts(split), stop); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v\n%s", err, stop.buf.String())
	}
	o := opts(split)
	o.Resume = true
	var log bytes.Buffer
	if err := Run(ctx, o, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "resuming after epoch 1") {
		t.Errorf("no resume message:\n%s", log.String())
	}
	a, _ := os.ReadFile(filepath.Join(full, "model", "model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(split, "model", "model.safetensors"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("resumed run differs from the uninterrupted one")
	}
	ha, _ := os.ReadFile(filepath.Join(full, "history.csv"))
	hb, _ := os.ReadFile(filepath.Join(split, "history.csv"))
	if !bytes.Equal(ha, hb) {
		t.Errorf("histories differ:\n%s\n---\n%s", ha, hb)
	}

	// Resuming with a different architecture is refused.
	o.Hidden = 64
	if err := Run(ctx, o, nil); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("incompatible resume: %v", err)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.log")
	os.WriteFile(empty, []byte("\n\n"), 0o644)
	for name, o := range map[string]Options{
		"no corpus":       {Out: dir},
		"no out":          {Corpus: empty},
		"missing corpus":  {Corpus: filepath.Join(dir, "nope"), Out: dir},
		"empty corpus":    {Corpus: empty, Out: dir},
		"dir without log": {Corpus: t.TempDir(), Out: dir},
		"bad mask":        {Corpus: empty, Out: dir, MaskProb: 1.5},
		"resume nothing":  {Corpus: tinyCorpus(t), Out: t.TempDir(), Resume: true},
		"seq > position":  {Corpus: empty, Out: dir, MaxSeqLen: 512, MaxPosition: 128},
	} {
		if err := Run(ctx, o, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Run(cctx, tinyOptions(tinyCorpus(t), t.TempDir(), 1), nil); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestSchedule(t *testing.T) {
	if lr := schedule(1, 0.1, 0, 100); lr != 0.1 {
		t.Errorf("first warm-up step %g", lr)
	}
	if lr := schedule(1, 0.1, 9, 100); lr != 1 {
		t.Errorf("end of warm-up %g", lr)
	}
	if lr := schedule(1, 0.1, 55, 100); lr != 0.5 {
		t.Errorf("mid decay %g", lr)
	}
	if lr := schedule(1, 0.1, 100, 100); lr != 0 {
		t.Errorf("end %g", lr)
	}
}

func valColumn(t *testing.T, path, stage string) []float64 {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, r := range rows[1:] {
		if v, err := strconv.ParseFloat(r[4], 64); err == nil && r[2] == stage {
			out = append(out, v)
		}
	}
	return out
}
