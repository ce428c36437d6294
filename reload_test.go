package coorlogprocessor

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/internal/metadata"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// saveAs writes b to dir as the learning replica would after n AEM updates.
func saveAs(t *testing.T, dir string, b *bundle.Bundle, n int) {
	t.Helper()
	c := *b
	c.Manifest.Updates = n
	_, err := bundle.Save(dir, &c)
	require.NoError(t, err)
}

// TestFollowerServesTheBundleAnotherReplicaWrites runs a follower replica
// (model_reload_interval, AEM off) while the bundle in its model_path is
// rewritten: records of later sessions carry the new model version; a
// corrupt file in between changes nothing, and the next good save is taken.
func TestFollowerServesTheBundleAnotherReplicaWrites(t *testing.T) {
	dir := copyBundle(t)
	_, sessions := trainedModelDir(t)
	b, err := bundle.Load(dir)
	require.NoError(t, err)

	cfg := detectConfig(dir)
	cfg.ModelReloadInterval = 20 * time.Millisecond
	cfg.Session.InactivityTimeout = 30 * time.Millisecond
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	// versionNow sends one session at a time until its records come back
	// with want (or wait runs out), and returns the last version seen.
	next := 0
	versionNow := func(want string, wait time.Duration) string {
		var got string
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			s := sessions[next%len(sessions)]
			next++
			before := sink.LogRecordCount()
			require.NoError(t, p.ConsumeLogs(context.Background(), hdfsLogs(s.Lines...)))
			require.Eventually(t, func() bool { return sink.LogRecordCount() == before+len(s.Lines) }, 10*time.Second, 5*time.Millisecond)
			all := sink.AllLogs()
			lrs := all[len(all)-1].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
			// The session's first record carries the whole verdict (attributes: compact).
			v, ok := lrs.At(lrs.Len() - len(s.Lines)).Attributes().Get("anomaly.model.version")
			require.True(t, ok)
			if got = v.Str(); got == want {
				return got
			}
			time.Sleep(10 * time.Millisecond)
		}
		return got
	}

	assert.Equal(t, "test-bundle-1", versionNow("test-bundle-1", 20*time.Second))
	saveAs(t, dir, b, 2)
	assert.Equal(t, "test-bundle-1+aem2", versionNow("test-bundle-1+aem2", 20*time.Second), "the follower serves the saved bundle")

	require.NoError(t, os.WriteFile(bundle.Path(dir), []byte("not a bundle"), 0o644))
	time.Sleep(100 * time.Millisecond) // several polls
	assert.Equal(t, "test-bundle-1+aem2", versionNow("none: keep sending for a while", 300*time.Millisecond), "a corrupt file leaves the model in use")

	saveAs(t, dir, b, 3)
	assert.Equal(t, "test-bundle-1+aem3", versionNow("test-bundle-1+aem3", 20*time.Second), "the next good save is taken")
}

// TestFollowerPoll: nothing changed, nothing loaded; a changed file that
// does not fit is reported once and the model stays; a missing file is an
// error, not a crash.
func TestFollowerPoll(t *testing.T) {
	dir := copyBundle(t)
	b, err := bundle.Load(dir)
	require.NoError(t, err)
	f := newBundleFollower(dir, time.Hour, zap.NewNop())
	swaps := 0
	refuse := errors.New("encoder gives 8-d vectors")
	var swapErr error
	f.swap = func(*bundle.Bundle) error { swaps++; return swapErr }
	f.version = func() string { return "v" }

	swapped, err := f.poll()
	require.NoError(t, err)
	assert.False(t, swapped, "the file the model came from")

	swapErr = refuse
	time.Sleep(10 * time.Millisecond) // a later modification time
	saveAs(t, dir, b, 1)
	swapped, err = f.poll()
	assert.ErrorIs(t, err, refuse)
	assert.False(t, swapped)
	swapped, err = f.poll()
	require.NoError(t, err, "reported once")
	assert.False(t, swapped)

	swapErr = nil
	time.Sleep(10 * time.Millisecond)
	saveAs(t, dir, b, 2)
	swapped, err = f.poll()
	require.NoError(t, err)
	assert.True(t, swapped)
	assert.Equal(t, 2, swaps)

	require.NoError(t, os.Remove(bundle.Path(dir)))
	_, err = f.poll()
	assert.ErrorContains(t, err, "reading")
}
