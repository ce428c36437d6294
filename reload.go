package coorlogprocessor // import "github.com/coorlog/coorlogprocessor"

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// bundleFollower keeps a replica on the bundle another replica writes: in a
// scale-out, one collector learns (AEM, operator feedback) and saves its
// bundle to model_path; the others check the file every
// model_reload_interval and swap a changed one into their cascade at once
// (the snapshot behind an atomic pointer, as AEM swaps it). bundle.Save
// writes by rename, so a poll sees the old file or the new one, never half
// of one. A bundle that fails to load or to fit the encoder leaves the model
// in use as it is; the warning says why, and the next change is tried again.
type bundleFollower struct {
	path    string
	every   time.Duration
	swap    func(*bundle.Bundle) error // Cascade.Swap
	version func() string              // Cascade.ModelVersion, for the log
	log     *zap.Logger

	last fileStamp // of the file the model in use came from (or was last tried)
}

// fileStamp tells one written file from the next: bundle.Save replaces the
// file, so its modification time and size change with every save.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// newBundleFollower starts from the file as it is now. Take it before the
// bundle is loaded: a save between the two is then seen as a change and
// loaded again, never missed.
func newBundleFollower(modelPath string, every time.Duration, log *zap.Logger) *bundleFollower {
	path := modelPath // model_path is a bundle directory or a bundle file
	if st, err := os.Stat(modelPath); err != nil || st.IsDir() {
		path = bundle.Path(modelPath)
	}
	f := &bundleFollower{path: path, every: every, log: log}
	f.last, _ = stampOf(f.path) // a missing file fails the load that follows
	return f
}

// run polls until ctx ends.
func (f *bundleFollower) run(ctx context.Context) {
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := f.poll(); err != nil {
				f.log.Warn("coorlog: model_reload_interval: keeping the model in use", zap.String("model_version", f.version()), zap.Error(err))
			}
		}
	}
}

// poll swaps in the bundle when its file changed since the last poll.
// swapped is false when nothing changed; an error leaves the model as it is.
func (f *bundleFollower) poll() (swapped bool, err error) {
	st, err := stampOf(f.path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", f.path, err)
	}
	if st == f.last {
		return false, nil
	}
	f.last = st // a bad file is reported once, not at every poll
	b, err := bundle.Load(f.path)
	if err != nil {
		return false, fmt.Errorf("loading the changed bundle: %w", err)
	}
	before := f.version()
	if err := f.swap(b); err != nil {
		return false, fmt.Errorf("the changed bundle does not fit: %w", err)
	}
	f.log.Info("coorlog: model_reload_interval: serving the changed bundle",
		zap.String("from", before), zap.String("to", f.version()))
	return true, nil
}
