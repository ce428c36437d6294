package pretrain

import (
	"errors"
	"fmt"

	"github.com/coorlog/coorlogprocessor/model/encoder"
)

// Options configure Run. Zero fields take the defaults in brackets.
type Options struct {
	Corpus string // a log file, or a directory of *.log files (required)
	Out    string // output directory (required)

	Epochs       int     // MLM passes over the distinct training lines [6]
	BatchSize    int     // lines per step [32]
	LR           float64 // peak learning rate [1e-3]
	WarmupFrac   float64 // share of steps with linear warm-up, then linear decay to 0 [0.06]
	WeightDecay  float64 // AdamW decoupled decay [0.01]
	MaskProb     float64 // share of tokens masked [0.15]
	VocabSize    int     // WordPiece vocabulary size [3000]
	MaxSeqLen    int     // tokens per line in training, [CLS] and [SEP] included [64]
	ValPercent   int     // distinct lines held out for the validation loss [5]
	Hidden       int     // hidden size [128]
	Layers       int     // encoder layers [2]
	Heads        int     // attention heads [4]
	Intermediate int     // feed-forward size [512]
	MaxPosition  int     // max_position_embeddings [128]
	Seed         uint64  // seeds weights, shuffling, masking and dropout [1]
	Threads      int     // libtorch intra-op threads; 0 leaves the default
	LogEvery     int     // progress line every this many steps, besides each epoch [50]
	Resume       bool    // continue from Out/train/state.json

	// The contrastive stage (see contrastive.go) runs after the MLM epochs.
	ContrastiveEpochs int     // passes after MLM [3]; negative skips the stage
	ContrastiveBatch  int     // lines per step, i.e. 2x views [64]
	ContrastiveLR     float64 // peak learning rate [1e-4]
	Temperature       float64 // InfoNCE temperature [0.05]
	DeleteProb        float64 // token deletion in the second view [0.1]
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Epochs, 6)
	def(&o.ContrastiveEpochs, 3)
	def(&o.BatchSize, 32)
	deff(&o.LR, 1e-3)
	deff(&o.WarmupFrac, 0.06)
	deff(&o.WeightDecay, 0.01)
	deff(&o.MaskProb, 0.15)
	def(&o.VocabSize, 3000)
	def(&o.MaxSeqLen, 64)
	def(&o.ValPercent, 5)
	def(&o.Hidden, 128)
	def(&o.Layers, 2)
	def(&o.Heads, 4)
	def(&o.Intermediate, 512)
	def(&o.MaxPosition, 128)
	def(&o.LogEvery, 50)
	def(&o.ContrastiveBatch, 64)
	deff(&o.ContrastiveLR, 1e-4)
	deff(&o.Temperature, 0.05)
	deff(&o.DeleteProb, 0.1)
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Validate reports the first unusable option.
func (o Options) Validate() error {
	switch {
	case o.Corpus == "":
		return errors.New("pretrain: corpus is required")
	case o.Out == "":
		return errors.New("pretrain: out is required")
	case o.ContrastiveBatch < 0 || o.ContrastiveLR < 0 || o.Temperature < 0 || o.DeleteProb < 0 || o.DeleteProb >= 1:
		return errors.New("pretrain: contrastive option out of range")
	case o.ContrastiveBatch == 1:
		return errors.New("pretrain: a contrastive batch needs at least 2 lines")
	case o.Epochs < 0 || o.BatchSize < 0 || o.VocabSize < 0 || o.MaxSeqLen < 0 || o.Threads < 0 || o.LogEvery < 0:
		return errors.New("pretrain: negative option")
	case o.LR < 0 || o.WarmupFrac < 0 || o.WarmupFrac >= 1 || o.WeightDecay < 0:
		return fmt.Errorf("pretrain: lr %g, warmup %g, weight decay %g out of range", o.LR, o.WarmupFrac, o.WeightDecay)
	case o.MaskProb < 0 || o.MaskProb >= 1:
		return fmt.Errorf("pretrain: mask probability %g not in [0,1)", o.MaskProb)
	case o.ValPercent < 0 || o.ValPercent >= 50:
		return fmt.Errorf("pretrain: validation percent %d not in [0,50)", o.ValPercent)
	case o.MaxSeqLen != 0 && o.MaxSeqLen < 3:
		return fmt.Errorf("pretrain: max_seq_len %d < 3", o.MaxSeqLen)
	case o.MaxPosition != 0 && o.MaxSeqLen > o.MaxPosition:
		return fmt.Errorf("pretrain: max_seq_len %d exceeds max_position %d", o.MaxSeqLen, o.MaxPosition)
	}
	return nil
}

// BertConfig is the architecture Run trains for these options.
func (o Options) BertConfig(vocabSize int) encoder.BertConfig {
	o = o.withDefaults()
	c := encoder.DefaultBertConfig(vocabSize)
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads = o.Hidden, o.Layers, o.Heads
	c.IntermediateSize, c.MaxPositionEmbeddings = o.Intermediate, o.MaxPosition
	c.Architectures = []string{"BertForMaskedLM"}
	return c
}
