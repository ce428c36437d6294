package encoder

import (
	"math"
	"runtime"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Bert is the BERT encoder stack (Devlin et al., 2019) exactly as Hugging
// Face's BertModel computes it, without the pooler. Its variables are named
// as in BertModel's state dict (embeddings.word_embeddings.weight,
// encoder.layer.0.attention.self.query.weight, ...), relative to the path
// given to NewBert, so a checkpoint loads by name.
//
// It is built from one small type per block of Hugging Face's
// modeling_bert.py: embeddings (embeddings.go); encoderStack, layer,
// intermediate and output (layer.go); attention, selfAttention and
// attentionOutput (attention.go); pooling is Pooling (pool.go). Each block's
// forward method names the shapes it maps: B batch, T tokens, H hidden, I
// intermediate, nh heads, dh = H/nh.
//
// Forward builds an autograd graph when gradients are enabled, so Bert can be
// trained (an MLM head on top of the hidden states); Encoder uses it for
// inference only.
type Bert struct {
	Config BertConfig

	embeddings embeddings
	encoder    encoderStack

	// 0-dim float32 constants of the attention mask, made once.
	one, negLarge *ts.Tensor
}

// NewBert creates the variables of a BERT encoder under p with Hugging
// Face's initialisation (normal(0, initializer_range) weights, zero biases,
// unit LayerNorm). cfg must be valid (see BertConfig.Validate). The order in
// which the blocks make their variables fixes which random numbers each
// weight gets from libtorch's generator: the embeddings, then each layer's
// query, key, value, attention output, intermediate and output.
func NewBert(p *nn.Path, cfg BertConfig) *Bert {
	std := cfg.InitializerRange
	if std <= 0 {
		std = 0.02
	}
	scalar := func(v float64) *ts.Tensor {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return float32Tensor([]float32{float32(v)}).gotchTensor() // 0-dim
	}
	b := &Bert{
		Config:     cfg,
		embeddings: newEmbeddings(p.Sub("embeddings"), cfg, std),
		one:        scalar(1),
		negLarge:   scalar(-math.MaxFloat32), // HF: torch.finfo(float32).min
	}
	scale := scalar(1 / math.Sqrt(float64(cfg.HeadDim()))) // shared by every layer
	b.encoder = newEncoderStack(p.Sub("encoder"), cfg, std, scale)
	return b
}

// WordEmbeddings is the word embedding table [V,H] (an MLM head ties its
// decoder to it).
func (b *Bert) WordEmbeddings() *ts.Tensor { return b.embeddings.word }

// Forward runs the encoder. ids are token ids [B,T] (int64, each < vocab
// size, T <= max_position_embeddings); mask is [B,T] with 1 for real tokens
// and 0 for padding (any numeric dtype). It returns the last hidden states
// [B,T,H]; the caller owns them. Dropout is applied only when train is true.
// Every intermediate tensor is freed before it returns (autograd keeps what
// backward needs on its own). It panics on a shape error.
func (b *Bert) Forward(ids, mask *ts.Tensor, train bool) *ts.Tensor {
	runtime.LockOSThread() // libtorch's last error is per OS thread
	defer runtime.UnlockOSThread()
	size := ids.MustSize()
	out := b.forward(borrow(ids), borrow(mask), size[0], size[1], train).gotchTensor()
	// The handles were borrowed: keep their owners (and their finalizers)
	// alive until here.
	runtime.KeepAlive(ids)
	runtime.KeepAlive(mask)
	runtime.KeepAlive(b)
	return out
}

// forward is Forward on bare handles: ids and mask [B,T] are kept; the
// result [B,T,H] is the caller's.
func (b *Bert) forward(ids, mask tensor, B, T int64, train bool) tensor {
	x := b.embeddings.forward(ids, T, train)    // [B,T,H]
	bias := b.extendedMask(mask, B, T)          // [B,1,1,T]
	x = b.encoder.forward(x, bias, B, T, train) // [B,T,H]
	bias.free()
	return x // [B,T,H]
}

// extendedMask is the additive key mask [B,1,1,T] for mask [B,T]: 0 on real
// tokens, float32 min on padding, so that softmax gives padded keys zero
// weight (HF's get_extended_attention_mask). mask is kept.
func (b *Bert) extendedMask(mask tensor, B, T int64) tensor {
	m := toFloat(mask)                              // [B,T]
	pad := done(sub(borrow(b.one), m), m)           // [B,T] 1 on padding
	bias := done(mul(pad, borrow(b.negLarge)), pad) // [B,T]
	return done(view(bias, B, 1, 1, T), bias)       // [B,1,1,T]
}
