package pretrain

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// dataDir is ../shared/data relative to the repository root, or $COORLOG_DATA.
func dataDir(t testing.TB) string {
	if d := os.Getenv("COORLOG_DATA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(d), "shared", "data")
		}
	}
	t.Fatal("repository root (go.mod) not found")
	return ""
}

func loghubDir(t testing.TB) string {
	d := filepath.Join(dataDir(t), "loghub")
	if _, err := os.Stat(filepath.Join(d, "HDFS_2k.log")); err != nil {
		t.Skipf("loghub data not found in %s (set COORLOG_DATA): %v", d, err)
	}
	return d
}

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
