// Package pretrain trains the project's default log-line encoder: a WordPiece
// vocabulary learnt from a log corpus, then masked language modelling (MLM)
// of a small BERT (model/encoder) on the corpus's distinct normalised lines.
// Training is separate from inference: the result is a Hugging Face
// checkpoint directory that encoder.Load reads like any other.
//
// Run writes, under Options.Out:
//
//	model/        the checkpoint (config.json, model.safetensors, vocab.txt,
//	              tokenizer_config.json), rewritten after every epoch
//	model-mlm/    the checkpoint at the end of the MLM stage, when a contrastive stage follows
//	train/        resumable state: state.json, weights and Adam moments of the last epoch
//	history.csv   step, epoch, train loss (mean since the last row), validation loss, lr
//	loss.png      the loss curve
package pretrain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/torchrt"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/encoder/tokenizer"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Run trains (or, with Resume, continues training) and writes the outputs
// described in the package comment. Progress lines go to progress (may be nil).
func Run(ctx context.Context, opts Options, progress io.Writer) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	o := opts.withDefaults()
	if progress == nil {
		progress = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }
	torchrt.SetNumThreads(o.Threads)
	// libtorch's grad mode is per OS thread, and gotch toggles it (variable
	// initialisation, ts.NoGrad) without pinning the goroutine: a migration
	// between its two calls leaves some thread with gradients off. Training
	// runs on one pinned thread with gradients explicitly on.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := ts.GradSetEnabled(true); err != nil {
		return fmt.Errorf("pretrain: enable gradients: %w", err)
	}

	corpus, err := LoadCorpus(ctx, o.Corpus)
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	train, val := corpus.split(o.ValPercent)
	if len(train) == 0 {
		return fmt.Errorf("pretrain: no training lines left after holding out %d%% for validation", o.ValPercent)
	}
	logf("corpus: %d files, %d lines, %d distinct normalised lines (%d train, %d validation)",
		len(corpus.Files), corpus.RawLines, len(corpus.Lines), len(train), len(val))

	trainDir, modelDir := filepath.Join(o.Out, "train"), filepath.Join(o.Out, "model")
	if err := os.MkdirAll(trainDir, 0o755); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}

	var st *state
	var vocab []string
	if o.Resume {
		if st, err = readState(trainDir); err != nil {
			return fmt.Errorf("pretrain: resume: %w", err)
		}
		if vocab, err = readVocab(filepath.Join(trainDir, "vocab.txt")); err != nil {
			return fmt.Errorf("pretrain: resume: %w", err)
		}
		if err := compatible(st.Options, o); err != nil {
			return fmt.Errorf("pretrain: resume: %w", err)
		}
		logf("resuming after epoch %d (step %d)", st.Epoch, st.Step)
	} else {
		t0 := time.Now()
		vocab, err = LearnVocab(train, nil, o.VocabSize)
		if err != nil {
			return fmt.Errorf("pretrain: %w", err)
		}
		if err := writeLines(filepath.Join(trainDir, "vocab.txt"), vocab); err != nil {
			return fmt.Errorf("pretrain: %w", err)
		}
		if err := os.Remove(filepath.Join(o.Out, "history.csv")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pretrain: %w", err)
		}
		logf("vocabulary: %d WordPiece tokens learnt in %s", len(vocab), time.Since(t0).Round(time.Millisecond))
	}
	cfg := o.BertConfig(len(vocab))
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	tok, err := tokenizer.New(vocab, tokenizer.Options{Lowercase: true, MaxLen: o.MaxSeqLen})
	if err != nil {
		return fmt.Errorf("pretrain: tokenizer: %w", err)
	}
	trainSeqs, valSeqs := encodeAll(tok, train, o.MaxSeqLen), encodeAll(tok, val, o.MaxSeqLen)

	torchrt.ManualSeed(int64(o.Seed)) // initial weights
	vs := nn.NewVarStore(gotch.CPU)
	defer vs.Destroy()
	model := newMLM(vs.Root(), cfg)
	opt := newAdamW(vs, o.WeightDecay)
	defer opt.drop()
	startEpoch, step := 0, 0
	if st != nil {
		if err := vs.Load(filepath.Join(trainDir, st.Weights)); err != nil {
			return fmt.Errorf("pretrain: resume: load weights: %w", err)
		}
		saved, err := ts.LoadMultiWithDevice(filepath.Join(trainDir, st.Adam), gotch.CPU)
		if err != nil {
			return fmt.Errorf("pretrain: resume: load optimizer state: %w", err)
		}
		err = opt.load(saved, st.Step)
		for _, s := range saved {
			s.Tensor.MustDrop()
		}
		if err != nil {
			return fmt.Errorf("pretrain: resume: %w", err)
		}
		startEpoch, step = st.Epoch, st.Step
	}
	params := 0
	for _, p := range opt.params {
		n := 1
		for _, d := range p.MustSize() {
			n *= int(d)
		}
		params += n
	}
	stepsPerEpoch := (len(trainSeqs) + o.BatchSize - 1) / o.BatchSize
	mlmSteps := stepsPerEpoch * o.Epochs
	cStepsPerEpoch := (len(trainSeqs) + o.ContrastiveBatch - 1) / o.ContrastiveBatch
	cSteps := cStepsPerEpoch * max(o.ContrastiveEpochs, 0)
	total := mlmSteps + cSteps
	logf("model: BERT %d layers, hidden %d, %d heads, intermediate %d, vocab %d: %d parameters (MLM head included); %d MLM steps of %d lines, %d contrastive steps of %d lines",
		cfg.NumHiddenLayers, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize, cfg.VocabSize, params, mlmSteps, o.BatchSize, cSteps, o.ContrastiveBatch)

	cEpochs := max(o.ContrastiveEpochs, 0)
	mk := masker{p: o.MaskProb, maskID: tok.MaskID, firstReal: int64(len(specials)), vocab: int64(len(vocab)), padID: tok.PadID}
	hist := &history{path: filepath.Join(o.Out, "history.csv")}
	start := time.Now()
	startStep := step
	var tokens int
	for epoch := startEpoch; epoch < o.Epochs+cEpochs; epoch++ {
		contrastive := epoch >= o.Epochs
		stage, size := "mlm", o.BatchSize
		if contrastive {
			stage, size = "contrastive", o.ContrastiveBatch
		}
		opt.freeze("cls.", contrastive) // the MLM head has no part in the contrastive loss
		// Every epoch is seeded on its own, so a resumed run repeats the
		// uninterrupted one.
		torchrt.ManualSeed(int64(o.Seed)*1_000_003 + int64(epoch))
		rng := rand.New(rand.NewPCG(o.Seed, uint64(epoch)+1))
		batches := bucketBatches(rng.Perm(len(trainSeqs)), trainSeqs, size, rng)
		var lossSum float64
		var lossN int
		lrAt := func(step int) float64 {
			if contrastive {
				return schedule(o.ContrastiveLR, o.WarmupFrac, step-mlmSteps, cSteps)
			}
			return schedule(o.LR, o.WarmupFrac, step, mlmSteps)
		}
		for _, idx := range batches {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("pretrain: epoch %d: %w", epoch+1, err)
			}
			seqs := make([][]int64, len(idx))
			for i, j := range idx {
				seqs[i] = trainSeqs[j]
			}
			lr := lrAt(step)
			var loss *ts.Tensor
			if contrastive {
				if len(seqs) < 2 { // a lone line has no negatives
					continue
				}
				b := makePairs(seqs, o.DeleteProb, tok.PadID, rng)
				loss = model.contrastiveLoss(b, o.Temperature, true)
				tokens += b.tokens
				b.drop()
			} else {
				b, err := mk.make(seqs, rng)
				if err != nil {
					return fmt.Errorf("pretrain: %w", err)
				}
				loss = model.loss(b, true)
				tokens += b.tokens
				b.drop()
			}
			lv := loss.Float64Values()[0]
			loss.MustBackward()
			loss.MustDrop()
			opt.update(lr, 1.0)
			step++
			if math.IsNaN(lv) || math.IsInf(lv, 0) {
				return fmt.Errorf("pretrain: %s loss diverged (%v) at step %d; lower the learning rate", stage, lv, step)
			}
			lossSum += lv
			lossN++
			if o.LogEvery > 0 && step%o.LogEvery == 0 {
				hist.add(step, epoch+1, stage, lossSum/float64(lossN), math.NaN(), lr)
				logf("%s", progressLine(stage, epoch+1, o.Epochs+cEpochs, step, total, lossSum/float64(lossN), math.NaN(), lr, tokens, start, startStep))
			}
		}
		vl, err := valLoss(model, mk, valSeqs, o, contrastive, tok.PadID)
		if err != nil {
			return fmt.Errorf("pretrain: %w", err)
		}
		lr := lrAt(step)
		hist.add(step, epoch+1, stage, lossSum/float64(max(lossN, 1)), vl, lr)
		logf("%s", progressLine(stage, epoch+1, o.Epochs+cEpochs, step, total, lossSum/float64(max(lossN, 1)), vl, lr, tokens, start, startStep))
		if err := hist.flush(); err != nil {
			return fmt.Errorf("pretrain: %w", err)
		}
		if err := saveEpoch(trainDir, modelDir, vs, cfg, vocab, opt, epoch+1, step, o); err != nil {
			return fmt.Errorf("pretrain: epoch %d: %w", epoch+1, err)
		}
		if epoch+1 == o.Epochs && cEpochs > 0 {
			if err := encoder.SaveVarStore(filepath.Join(o.Out, "model-mlm"), cfg, vs, vocab); err != nil {
				return fmt.Errorf("pretrain: %w", err)
			}
		}
	}
	if err := plotHistory(filepath.Join(o.Out, "history.csv"), filepath.Join(o.Out, "loss.png")); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	logf("done in %s: checkpoint %s, loss curve %s", time.Since(start).Round(time.Second), modelDir, filepath.Join(o.Out, "loss.png"))
	return nil
}

// bucketBatches cuts a shuffled order into batches of similar lengths, so
// that little of each batch is padding (attention cost grows with the longest
// line): windows of 16 batches are sorted by length, cut, and the batches
// shuffled again. Every line is used once per epoch.
func bucketBatches(perm []int, seqs [][]int64, size int, rng *rand.Rand) [][]int {
	var out [][]int
	window := 16 * size
	for lo := 0; lo < len(perm); lo += window {
		w := slices.Clone(perm[lo:min(lo+window, len(perm))])
		slices.SortStableFunc(w, func(a, b int) int { return len(seqs[a]) - len(seqs[b]) })
		for i := 0; i < len(w); i += size {
			out = append(out, w[i:min(i+size, len(w))])
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// schedule is linear warm-up to peak over warmup·total steps, then linear
// decay to zero at total.
func schedule(peak, warmup float64, step, total int) float64 {
	w := int(math.Ceil(warmup * float64(total)))
	if step < w {
		return peak * float64(step+1) / float64(w)
	}
	if total <= w {
		return peak
	}
	return peak * math.Max(0, float64(total-step)) / float64(total-w)
}

// valLoss is the loss of the current stage on the validation lines, with a
// fixed masking (or deletion) so that epochs compare, and no dropout. NaN
// when there is no validation set.
func valLoss(m *mlm, mk masker, seqs [][]int64, o Options, contrastive bool, padID int64) (float64, error) {
	if len(seqs) == 0 || (contrastive && len(seqs) < 2) {
		return math.NaN(), nil
	}
	rng := rand.New(rand.NewPCG(o.Seed, 1<<40))
	var sum, n float64
	var err error
	noGrad(func() {
		size := o.BatchSize
		if contrastive {
			size = o.ContrastiveBatch
		}
		for lo := 0; lo < len(seqs); lo += size {
			part := seqs[lo:min(lo+size, len(seqs))]
			if contrastive {
				if len(part) < 2 {
					continue
				}
				b := makePairs(part, o.DeleteProb, padID, rng)
				l := m.contrastiveLoss(b, o.Temperature, false)
				sum += l.Float64Values()[0] * float64(len(part))
				n += float64(len(part))
				l.MustDrop()
				b.drop()
				continue
			}
			var b *batch
			b, err = mk.make(part, rng)
			if err != nil {
				return
			}
			l := m.loss(b, false)
			k := float64(b.pos.MustSize()[0])
			sum += l.Float64Values()[0] * k
			n += k
			l.MustDrop()
			b.drop()
		}
	})
	if err != nil {
		return 0, err
	}
	return sum / n, nil
}

func encodeAll(tok *tokenizer.Tokenizer, lines []string, maxLen int) [][]int64 {
	out := make([][]int64, 0, len(lines))
	for _, l := range lines {
		if ids := tok.EncodeMax(l, maxLen); len(ids) > 2 {
			out = append(out, ids)
		}
	}
	return out
}

func progressLine(stage string, epoch, epochs, step, total int, loss, val, lr float64, tokens int, start time.Time, startStep int) string {
	el := time.Since(start)
	eta := "?"
	if done := step - startStep; done > 0 {
		eta = (time.Duration(float64(el) / float64(done) * float64(total-step))).Round(time.Second).String()
	}
	v := ""
	if !math.IsNaN(val) {
		v = fmt.Sprintf("  val %.3f", val)
	}
	return fmt.Sprintf("%-11s epoch %3d/%d  step %5d/%d  loss %.3f%s  lr %.2e  %6.0f tok/s  elapsed %s  eta %s",
		stage, epoch, epochs, step, total, loss, v, lr, float64(tokens)/el.Seconds(), el.Round(time.Second), eta)
}
