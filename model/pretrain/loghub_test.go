package pretrain

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/shareddata"
)

func loghubDir(t testing.TB) string { return shareddata.Require(t, "loghub") }

// TestPretrainLoghub is the full pretraining run, for regenerating the
// shipped encoder without the CLI; it runs only when COORLOG_PRETRAIN_OUT
// names the output directory (COORLOG_PRETRAIN_EPOCHS,
// COORLOG_PRETRAIN_CONTRASTIVE_EPOCHS, COORLOG_PRETRAIN_RESUME=1 optional):
//
//	COORLOG_PRETRAIN_OUT=out/pretrain go test ./model/pretrain -run TestPretrainLoghub -timeout 60m -v
func TestPretrainLoghub(t *testing.T) {
	out := os.Getenv("COORLOG_PRETRAIN_OUT")
	if out == "" {
		t.Skip("set COORLOG_PRETRAIN_OUT to run the full pretraining")
	}
	o := Options{Corpus: loghubDir(t), Out: out, Threads: 2}
	if e := os.Getenv("COORLOG_PRETRAIN_EPOCHS"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil {
			t.Fatal(err)
		}
		o.Epochs = n
	}
	if e := os.Getenv("COORLOG_PRETRAIN_CONTRASTIVE_EPOCHS"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil {
			t.Fatal(err)
		}
		o.ContrastiveEpochs = n
	}
	o.Resume = os.Getenv("COORLOG_PRETRAIN_RESUME") == "1"
	if err := Run(context.Background(), o, os.Stdout); err != nil {
		t.Fatal(err)
	}
}
