package coorlogprocessor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/demolog"
	"github.com/coorlog/coorlogprocessor/internal/metadata"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/embedcache"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// parityEncoder is the encoder package's tiny random BERT fixture: real
// tensors and tokenizer, no trained weights needed.
const parityEncoder = "model/encoder/testdata/parity"

var (
	bundleOnce sync.Once
	bundleDir  string
	bundleErr  error
	bundleSess []dataset.Session
)

// trainedModelDir trains, once per test binary, a small bundle on synthetic
// HDFS sessions with the fixture encoder.
func trainedModelDir(t *testing.T) (string, []dataset.Session) {
	t.Helper()
	bundleOnce.Do(func() {
		bundleSess = demolog.Synthesize(120, 0.2, 5)
		enc, err := encoder.Load(parityEncoder, encoder.Options{})
		if err != nil {
			bundleErr = err
			return
		}
		defer enc.Close()
		var train, valid []model.LabelledSession
		for i, s := range bundleSess {
			ls := model.LabelledSession{ID: s.ID, Label: s.Label, Lines: s.Lines}
			if i%5 == 0 {
				valid = append(valid, ls)
			} else {
				train = append(train, ls)
			}
		}
		ccfg := coordinator.DefaultConfig()
		ccfg.Epochs = 3
		scfg := smallmodel.DefaultConfig()
		scfg.Epochs = 2
		// Trained, like `coorlog train`, through the normalising cache the
		// component puts in front of the encoder.
		b, err := model.Train(context.Background(), embedcache.New(enc, 0), train, valid, model.TrainOptions{
			Coordinator: ccfg, Small: scfg, Encoder: bundle.EncoderRef{Name: parityEncoder}, Version: "test-bundle-1",
		}, nil)
		if err != nil {
			bundleErr = err
			return
		}
		dir, err := os.MkdirTemp("", "coorlog-model-")
		if err != nil {
			bundleErr = err
			return
		}
		bundleDir = dir
		_, bundleErr = bundle.Save(dir, b)
	})
	require.NoError(t, bundleErr)
	return bundleDir, bundleSess
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bundleDir != "" {
		os.RemoveAll(bundleDir)
	}
	os.Exit(code)
}

func detectConfig(modelPath string) *Config {
	cfg := testConfig()
	cfg.Mode = ModeDetect
	cfg.ModelPath = modelPath
	cfg.Encoder.Path = parityEncoder
	cfg.Session.MaxRecords = 1000
	cfg.AEM.Enabled = false
	return cfg
}

func TestStartFailsClearlyOnBadModelFiles(t *testing.T) {
	good, _ := trainedModelDir(t)
	data, err := os.ReadFile(bundle.Path(good))
	require.NoError(t, err)

	cases := []struct {
		name    string
		content []byte // nil: no file at all
		is      error
		msg     string
	}{
		{name: "missing", msg: "loading the model bundle"},
		{name: "foreign", content: []byte("this is not a model\n"), is: bundle.ErrNotBundle},
		{name: "empty", content: []byte{}, msg: "loading the model bundle"},
		{name: "truncated", content: data[:len(data)/2], msg: "loading the model bundle"},
		{name: "flipped", content: flipByte(data, len(data)/3), is: bundle.ErrChecksum},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != nil {
				require.NoError(t, os.WriteFile(bundle.Path(dir), tc.content, 0o644))
			}
			p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), detectConfig(dir), consumertest.NewNop())
			require.NoError(t, err)
			var startErr error
			require.NotPanics(t, func() { startErr = p.Start(context.Background(), componenttest.NewNopHost()) })
			require.Error(t, startErr)
			assert.Contains(t, startErr.Error(), "coorlog: loading the model bundle (model_path "+dir)
			if tc.is != nil {
				assert.True(t, errors.Is(startErr, tc.is), "%v is %v", startErr, tc.is)
			}
			if tc.msg != "" {
				assert.Contains(t, startErr.Error(), tc.msg)
			}
			require.NoError(t, p.Shutdown(context.Background()))
		})
	}
}

func flipByte(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0xff
	return c
}

func TestDetectModeAnnotatesWithTheTrainedBundle(t *testing.T) {
	dir, sessions := trainedModelDir(t)
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), detectConfig(dir), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))

	var lines []string
	want := 0
	for _, s := range sessions[:10] {
		lines = append(lines, s.Lines...)
		want += len(s.Lines)
	}
	require.NoError(t, p.ConsumeLogs(context.Background(), hdfsLogs(lines...)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Shutdown(ctx))

	got := 0
	ids := map[string]bool{}
	for _, ld := range sink.AllLogs() {
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := 0; i < lrs.Len(); i++ {
			a := lrs.At(i).Attributes()
			v, ok := a.Get("anomaly.model.version")
			require.True(t, ok)
			assert.Equal(t, "test-bundle-1", v.Str())
			route, _ := a.Get("anomaly.route")
			assert.Contains(t, []string{"small_model", "fallback", "cache"}, route.Str(), "no LLM configured")
			id, _ := a.Get("anomaly.session.id")
			ids[id.Str()] = true
			got++
		}
	}
	assert.Equal(t, want, got, "every record is forwarded, annotated")
	assert.Len(t, ids, 10)
}

func TestAEMPersistsIntoModelPathOnShutdown(t *testing.T) {
	src, _ := trainedModelDir(t)
	dir := t.TempDir()
	data, err := os.ReadFile(bundle.Path(src))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, bundle.FileName), data, 0o644))

	cfg := detectConfig(dir)
	cfg.AEM.Enabled = true
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.Shutdown(context.Background()))
	// No finding was made (no LLM), so the bundle is untouched and loads.
	b, err := bundle.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, "test-bundle-1", b.Manifest.ModelVersion)
}

func TestStartRefusesAnEncoderThatDoesNotMatchTheBundle(t *testing.T) {
	dir, _ := trainedModelDir(t)
	cfg := detectConfig(dir)
	cfg.Encoder.Pooling = string(encoder.PoolCLS) // same checkpoint and width, other vectors
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = p.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.True(t, errors.Is(err, model.ErrEncoderMismatch), "%v", err)
	assert.Contains(t, err.Error(), "model bundle "+dir)
	require.NoError(t, p.Shutdown(context.Background()))
}

// The tau gauge and the cascade's counters read the cascade in use: the
// bundle's in detect mode, nothing while learn mode collects.
func TestTauGaugeSource(t *testing.T) {
	dir, _ := trainedModelDir(t)
	b, err := bundle.Load(dir)
	require.NoError(t, err)
	ctx := context.Background()

	ms, err := buildModels(ctx, detectConfig(dir), nil, zap.NewNop())
	require.NoError(t, err)
	tau, ok := ms.tau()
	assert.True(t, ok)
	assert.Equal(t, b.Coordinator.Tau(), tau)
	_, ok = ms.cascadeStats()
	assert.True(t, ok)
	require.NoError(t, ms.close(ctx))

	cfg := detectConfig("")
	cfg.Mode = ModeLearn
	ms, err = buildModels(ctx, cfg, nil, zap.NewNop())
	require.NoError(t, err)
	_, ok = ms.tau()
	assert.False(t, ok, "no coordinator before learn mode has trained")
	_, ok = ms.cascadeStats()
	assert.False(t, ok, "no cascade before learn mode has trained")
	require.NoError(t, ms.close(ctx))
}
