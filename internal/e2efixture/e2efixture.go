// Package e2efixture makes the trained model the collector's end-to-end
// tests share (internal/e2e, and the Kafka scale-out test in test/scale):
// synthetic HDFS sessions in the real log's wording (the tests must not
// depend on the shared data, and the oracle LLM keys on the failure events),
// split, an evolved copy of the test part (`coorlog evolve`), and a bundle
// from `coorlog train`, all made with the CLI as a user makes them.
package e2efixture

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/demolog"
)

// TB is the part of testing.TB this package needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Model is a trained bundle and the sessions around it.
type Model struct {
	Dir     string // the bundle directory (model_path)
	Encoder string // "" = the embedded default (EncoderPath)
	Test    []dataset.Session
	Evolved []dataset.Session // `coorlog evolve` of Test
}

// EncoderPath is $COORLOG_E2E_ENCODER (a BERT checkpoint directory; a
// relative path is taken from the repository root), or "" for the embedded
// default encoder.
func EncoderPath(root string) string {
	p := os.Getenv("COORLOG_E2E_ENCODER")
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

// Train builds the CLI from root and makes the model in dir.
func Train(tb TB, root, dir string) Model {
	tb.Helper()
	cli := filepath.Join(dir, "coorlog")
	run := func(name string, args ...string) {
		tb.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			o := string(out)
			if len(o) > 3000 {
				o = o[len(o)-3000:]
			}
			tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, o)
		}
	}
	run("go", "build", "-o", cli, "./cmd/coorlog")

	all := demolog.Synthesize(1500, 0.1, 11)
	trainAll, test, err := dataset.Split(all, 0.8, 11)
	if err != nil {
		tb.Fatalf("split: %v", err)
	}
	train, valid, err := dataset.Split(trainAll, 0.9, 12)
	if err != nil {
		tb.Fatalf("split: %v", err)
	}
	for name, s := range map[string][]dataset.Session{"train": train, "valid": valid, "test": test} {
		if err := dataset.WriteFile(filepath.Join(dir, name+".jsonl"), s); err != nil {
			tb.Fatalf("%v", err)
		}
	}
	run(cli, "evolve", "--in", filepath.Join(dir, "test.jsonl"), "--out", filepath.Join(dir, "evolved.jsonl"), "--seed", "5")
	m := Model{Dir: filepath.Join(dir, "model"), Encoder: EncoderPath(root), Test: test}
	args := []string{"train", "--train", filepath.Join(dir, "train.jsonl"), "--valid", filepath.Join(dir, "valid.jsonl"), "--out", m.Dir}
	if m.Encoder != "" {
		args = append(args, "--encoder", m.Encoder)
	}
	run(cli, args...)
	if m.Evolved, err = dataset.ReadFile(filepath.Join(dir, "evolved.jsonl")); err != nil {
		tb.Fatalf("%v", err)
	}
	return m
}
