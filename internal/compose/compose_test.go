package compose_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/compose"
	"github.com/coorlog/coorlogprocessor/internal/demolog"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/llm"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

func TestEncoderName(t *testing.T) {
	if got := compose.EncoderName(""); got != compose.DefaultEncoder {
		t.Errorf("empty path names %q", got)
	}
	if got := compose.EncoderName("/models/bert"); got != "/models/bert" {
		t.Errorf("checkpoint path names %q", got)
	}
}

// "" and "default" are the same embedded encoder; a missing checkpoint is an
// error that names it.
func TestEncoder(t *testing.T) {
	ctx := context.Background()
	line := []string{"Receiving block blk_42 src: /10.0.0.1:50010"}
	var vecs [][]float32
	for _, name := range []string{"", compose.DefaultEncoder} {
		e, err := compose.Encoder(name, encoder.Options{Threads: 1})
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		v, err := e.Embed(ctx, line)
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		vecs = append(vecs, v[0])
	}
	if len(vecs[0]) == 0 || len(vecs[0]) != len(vecs[1]) {
		t.Fatalf("widths %d, %d", len(vecs[0]), len(vecs[1]))
	}
	for i := range vecs[0] {
		if vecs[0][i] != vecs[1][i] {
			t.Fatalf("dimension %d differs: %v vs %v", i, vecs[0][i], vecs[1][i])
		}
	}
	missing := filepath.Join(t.TempDir(), "no-such-checkpoint")
	if _, err := compose.Encoder(missing, encoder.Options{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing checkpoint: %v", err)
	}
}

// The one cascade policy: an encoder that does not reproduce the bundle's
// probe vectors (here: the same weights with other pooling) is refused,
// where model.NewCascade alone would only note it.
func TestCascadeRefusesAnotherEncoder(t *testing.T) {
	ctx := context.Background()
	mean, err := compose.Encoder(compose.DefaultEncoder, encoder.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer mean.Close()
	var train []model.LabelledSession
	for _, s := range demolog.Synthesize(80, 0.1, 3) {
		train = append(train, model.LabelledSession{ID: s.ID, Label: s.Label, Lines: s.Lines})
	}
	ccfg := coordinator.DefaultConfig()
	ccfg.Epochs = 2
	scfg := smallmodel.DefaultConfig()
	scfg.Epochs = 1
	b, err := model.Train(ctx, compose.Cached(mean, 0), train, nil, model.TrainOptions{
		Coordinator: ccfg, Small: scfg, Encoder: bundle.EncoderRef{Name: compose.DefaultEncoder}, Version: "t",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compose.Cascade(b, model.CascadeOptions{Encoder: compose.Cached(mean, 0)}); err != nil {
		t.Fatalf("the bundle's own encoder refused: %v", err)
	}
	cls, err := compose.Encoder(compose.DefaultEncoder, encoder.Options{Threads: 1, Pooling: string(encoder.PoolCLS)})
	if err != nil {
		t.Fatal(err)
	}
	defer cls.Close()
	if _, err := compose.Cascade(b, model.CascadeOptions{Encoder: cls}); !errors.Is(err, model.ErrEncoderMismatch) {
		t.Fatalf("other pooling: %v, want ErrEncoderMismatch", err)
	}
	if _, err := model.NewCascade(b, model.CascadeOptions{Encoder: cls}); err != nil {
		t.Fatalf("model.NewCascade without the policy: %v", err)
	}
}

func TestJudgeErrorsKeepTheKeySecret(t *testing.T) {
	cfg := llm.DefaultConfig()
	cfg.APIKey = "sk-very-secret"
	cfg.BaseURL = "not a url"
	_, err := compose.Judge(cfg)
	if err == nil {
		t.Fatal("bad base URL accepted")
	}
	if strings.Contains(err.Error(), "sk-very-secret") {
		t.Fatalf("error echoes the key: %v", err)
	}
}
