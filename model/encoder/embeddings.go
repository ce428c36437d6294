package encoder

import (
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// embeddings is HF's BertEmbeddings: word + absolute position + token type
// embeddings, LayerNorm, dropout. Token types are always 0 (single-segment
// input).
type embeddings struct {
	word, position, tokenType *ts.Tensor // [V,H], [P,H], [2,H]
	norm                      layerNorm
	dropout                   float64
}

// newEmbeddings makes the variables under p ("embeddings"). The order of
// creation fixes which random numbers each weight gets: keep it.
func newEmbeddings(p *nn.Path, cfg BertConfig, std float64) embeddings {
	h := int64(cfg.HiddenSize)
	return embeddings{
		word:      p.Sub("word_embeddings").MustNewVar("weight", []int64{int64(cfg.VocabSize), h}, nn.NewRandnInit(0, std)),
		position:  p.Sub("position_embeddings").MustNewVar("weight", []int64{int64(cfg.MaxPositionEmbeddings), h}, nn.NewRandnInit(0, std)),
		tokenType: p.Sub("token_type_embeddings").MustNewVar("weight", []int64{int64(cfg.TypeVocabSize), h}, nn.NewRandnInit(0, std)),
		norm:      newLayerNorm(p.Sub("LayerNorm"), h, cfg.LayerNormEps),
		dropout:   cfg.HiddenDropoutProb,
	}
}

// forward maps token ids [B,T] to hidden states [B,T,H]; ids are kept.
func (e embeddings) forward(ids tensor, T int64, train bool) tensor {
	word := embedding(borrow(e.word), ids)     // [B,T,H]
	pos := narrow(borrow(e.position), 0, 0, T) // [T,H]
	typ := selectAt(borrow(e.tokenType), 0, 0) // [H] type 0
	x := done(add(word, pos), word, pos)       // [B,T,H]
	x = done(add(x, typ), x, typ)              // [B,T,H]
	x = done(e.norm.forward(x), x)             // [B,T,H]
	return dropout(x, e.dropout, train)        // [B,T,H]
}
