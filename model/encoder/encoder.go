package encoder

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/coorlog/coorlogprocessor/model/encoder/tokenizer"
	"github.com/coorlog/coorlogprocessor/model/encoder/weights"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Options configure an Encoder. The zero value gives the defaults.
type Options struct {
	// Pooling is "mean" (default) or "cls". Mean pooling is the default
	// because the project's own encoder is trained with masked language
	// modelling only, which never trains the [CLS] state to summarise a
	// line; averaging the token states is the better sentence vector for
	// such a model (Reimers & Gurevych, 2019). CoorLog's paper uses [CLS] of
	// a fine-tuned BERT: choose "cls" for such checkpoints.
	Pooling string
	// MaxSeqLen truncates each line to this many tokens, [CLS] and [SEP]
	// included (default 64; at most max_position_embeddings).
	MaxSeqLen int
	// BatchSize is the number of lines per forward pass (default 32).
	BatchSize int
	// Threads sets libtorch's intra-op thread pool and OpenBLAS's pool
	// (process-wide, see SetThreads) when > 0; 0 leaves them as they are.
	// On a machine shared with other work, 1 is usually fastest.
	Threads int
}

const (
	DefaultMaxSeqLen = 64
	DefaultBatchSize = 32
)

func (o Options) normalised(cfg BertConfig) (Options, Pooling, error) {
	p, err := ParsePooling(o.Pooling)
	if err != nil {
		return o, "", err
	}
	o.Pooling = string(p)
	if o.MaxSeqLen < 0 || o.BatchSize < 0 || o.Threads < 0 {
		return o, "", fmt.Errorf("negative option: max_seq_len %d, batch_size %d, threads %d", o.MaxSeqLen, o.BatchSize, o.Threads)
	}
	if o.MaxSeqLen == 0 {
		o.MaxSeqLen = DefaultMaxSeqLen
	}
	if o.MaxSeqLen < 2 {
		return o, "", fmt.Errorf("max_seq_len %d: must be >= 2 ([CLS] and [SEP])", o.MaxSeqLen)
	}
	o.MaxSeqLen = min(o.MaxSeqLen, cfg.MaxPositionEmbeddings)
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	return o, p, nil
}

// Encoder embeds log lines with a BERT model: tokenise, batch with padding
// masks, forward without gradients, pool. It implements model.Encoder and is
// safe for concurrent use: concurrent calls run their forward passes in
// parallel (inference only reads the weights, and libtorch's grad mode and
// error slot are per thread); Close waits for them.
type Encoder struct {
	cfg     BertConfig
	tok     *tokenizer.Tokenizer
	bert    *Bert
	vs      *nn.VarStore // owned (freed by Close) when not nil
	opts    Options
	pooling Pooling

	mu     sync.RWMutex // forward passes share it; Close takes it alone
	closed bool
}

// Load opens a Hugging Face BERT checkpoint directory: config.json, weights
// from model.safetensors (F32/F16/BF16) or pytorch_model.bin, tokenizer from
// tokenizer.json or vocab.txt (+ tokenizer_config.json). Names may carry a
// "bert." prefix; heads and the pooler are ignored.
func Load(dir string, opts Options) (*Encoder, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, fmt.Errorf("load encoder: %w", err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load encoder: %w", err)
	}
	if _, _, err := opts.normalised(cfg); err != nil {
		return nil, fmt.Errorf("load encoder: %w", err)
	}
	vs := nn.NewVarStore(gotch.CPU)
	bert := NewBert(vs.Root(), cfg)
	if err := weights.LoadVarStore(vs, dir); err != nil {
		vs.Destroy()
		return nil, fmt.Errorf("load encoder %s: %w", dir, err)
	}
	if err := vs.Freeze(); err != nil { // inference only: never build a graph
		vs.Destroy()
		return nil, fmt.Errorf("load encoder %s: %w", dir, err)
	}
	e, err := NewEncoder(bert, tok, opts)
	if err != nil {
		vs.Destroy()
		return nil, fmt.Errorf("load encoder %s: %w", dir, err)
	}
	e.vs = vs
	return e, nil
}

// NewEncoder wraps a Bert the caller already has (a model being trained, or
// random weights for a benchmark). The caller keeps ownership of bert: Close
// does not free it. Embed runs without gradients; do not call it while the
// same Bert is being trained in another goroutine.
func NewEncoder(bert *Bert, tok *tokenizer.Tokenizer, opts Options) (*Encoder, error) {
	if bert == nil || tok == nil {
		return nil, errors.New("new encoder: nil model or tokenizer")
	}
	o, p, err := opts.normalised(bert.Config)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > bert.Config.VocabSize {
		return nil, fmt.Errorf("tokenizer has %d tokens but the model's vocab_size is %d", tok.VocabSize(), bert.Config.VocabSize)
	}
	SetThreads(o.Threads)
	return &Encoder{cfg: bert.Config, tok: tok, bert: bert, opts: o, pooling: p}, nil
}

// Dim is the embedding width (hidden_size).
func (e *Encoder) Dim() int { return e.cfg.HiddenSize }

// Config returns the model configuration.
func (e *Encoder) Config() BertConfig { return e.cfg }

// Options returns the effective options (defaults filled in).
func (e *Encoder) Options() Options { return e.opts }

// Tokenizer returns the encoder's tokenizer.
func (e *Encoder) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// ErrClosed is returned by Embed after Close.
var ErrClosed = errors.New("encoder is closed")

// Embed returns one vector of Dim() floats per line, in order. Lines are
// grouped by token length into batches of BatchSize so that little padding
// is computed; ctx is checked between batches.
func (e *Encoder) Embed(ctx context.Context, lines []string) ([][]float32, error) {
	if len(lines) == 0 {
		return [][]float32{}, nil
	}
	ids := make([][]int64, len(lines))
	for i, l := range lines {
		ids[i] = e.tok.EncodeMax(l, e.opts.MaxSeqLen)
	}
	order := make([]int, len(lines))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(ids[order[a]]) < len(ids[order[b]]) })

	out := make([][]float32, len(lines))
	for start := 0; start < len(order); start += e.opts.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		idx := order[start:min(start+e.opts.BatchSize, len(order))]
		batch := make([][]int64, len(idx))
		for j, i := range idx {
			batch[j] = ids[i]
		}
		vecs, err := e.embedBatch(batch)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		for j, i := range idx {
			out[i] = vecs[j]
		}
	}
	return out, nil
}

// embedBatch runs one padded batch through the model. Every tensor it makes
// is freed before it returns.
func (e *Encoder) embedBatch(batch [][]int64) (vecs [][]float32, err error) {
	B, T := len(batch), 0
	for _, s := range batch {
		T = max(T, len(s))
	}
	idData := make([]int64, B*T)
	maskData := make([]int64, B*T)
	for b, s := range batch {
		row := idData[b*T : (b+1)*T]
		for t := range row {
			row[t] = e.tok.PadID
		}
		copy(row, s)
		for t := range s {
			maskData[b*T+t] = 1
		}
	}
	H := e.cfg.HiddenSize
	flat := make([]float32, B*H)

	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	// gotch reports libtorch errors by panicking in a few places; keep a
	// bug there from taking the collector down with it.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("libtorch forward failed: %v", r)
		}
	}()
	noGrad(func() {
		ids := int64Tensor(idData, int64(B), int64(T))                 // [B,T]
		mask := int64Tensor(maskData, int64(B), int64(T))              // [B,T]
		hidden := e.bert.forward(ids, mask, int64(B), int64(T), false) // [B,T,H]
		pooled := done(e.pooling.forward(hidden, mask), hidden)        // [B,H]
		out := done(contiguous(pooled), pooled, ids, mask)             // [B,H]
		copyFloat32(out, flat)
		out.free()
	})
	runtime.KeepAlive(e.bert)
	if err != nil {
		return nil, err
	}
	vecs = make([][]float32, B)
	for b := range vecs {
		vecs[b] = flat[b*H : (b+1)*H : (b+1)*H]
	}
	return vecs, nil
}

// Close frees the model's tensors when the encoder owns them (Load). Embed
// fails with ErrClosed afterwards. Close is idempotent.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if e.vs != nil {
		e.vs.Destroy()
		e.vs = nil
	}
	return nil
}

// noGrad runs fn with libtorch's gradient mode off. Grad mode is
// thread-local in libtorch, so the goroutine is pinned to its OS thread for
// the duration; the previous mode is restored even if fn panics.
func noGrad(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := ts.GradSetEnabled(false)
	if err == nil {
		defer ts.GradSetEnabled(prev) //nolint:errcheck // restoring a mode cannot fail once setting it worked
	}
	fn()
}
