package pretrain

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// The resumable state of a run (train/state.json and the files it names),
// written after every epoch and read by Options.Resume.

// state is train/state.json: where a run stands after its last finished epoch.
type state struct {
	Epoch   int                `json:"epoch"` // epochs finished
	Step    int                `json:"step"`  // optimizer steps taken
	Weights string             `json:"weights"`
	Adam    string             `json:"adam"`
	Config  encoder.BertConfig `json:"config"`
	Options Options            `json:"options"`
}

// compatible refuses to resume with options that change the model, the data
// or the sampling; epochs, threads and logging may change.
func compatible(saved, now Options) error {
	a, b := saved, now
	a.Epochs, b.Epochs = 0, 0
	a.Threads, b.Threads = 0, 0
	a.LogEvery, b.LogEvery = 0, 0
	a.Resume, b.Resume = false, false
	a.Out, b.Out = "", ""
	if a != b {
		return fmt.Errorf("options differ from the run being resumed (saved %+v, now %+v)", saved, now)
	}
	return nil
}

// saveEpoch writes the checkpoint, then the resumable state; state.json is
// written last and atomically, so it always names complete files.
func saveEpoch(trainDir, modelDir string, vs *nn.VarStore, cfg encoder.BertConfig, vocab []string, opt *adamW, epoch, step int, o Options) error {
	if err := encoder.SaveVarStore(modelDir, cfg, vs, vocab); err != nil {
		return err
	}
	prev, _ := readState(trainDir)
	st := state{Epoch: epoch, Step: step, Config: cfg, Options: o,
		Weights: fmt.Sprintf("weights-e%04d.ot", epoch), Adam: fmt.Sprintf("adam-e%04d.ot", epoch)}
	if err := vs.Save(filepath.Join(trainDir, st.Weights)); err != nil {
		return fmt.Errorf("save weights: %w", err)
	}
	if err := ts.SaveMultiNew(opt.named(), filepath.Join(trainDir, st.Adam)); err != nil {
		return fmt.Errorf("save optimizer state: %w", err)
	}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(trainDir, "state.json.tmp")
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(trainDir, "state.json")); err != nil {
		return err
	}
	if prev != nil && prev.Epoch != epoch {
		_ = os.Remove(filepath.Join(trainDir, prev.Weights))
		_ = os.Remove(filepath.Join(trainDir, prev.Adam))
	}
	return nil
}

func readState(trainDir string) (*state, error) {
	raw, err := os.ReadFile(filepath.Join(trainDir, "state.json"))
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(trainDir, "state.json"), err)
	}
	if st.Weights == "" || st.Adam == "" || filepath.Base(st.Weights) != st.Weights || filepath.Base(st.Adam) != st.Adam {
		return nil, fmt.Errorf("%s: bad file names", filepath.Join(trainDir, "state.json"))
	}
	return &st, nil
}
