package metadata

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The files of this package are maintained by hand in mdatagen's layout; this
// test keeps them in step with metadata.yaml: every metric declared there is
// emitted under its name, with its description (and stability suffix), unit
// and type, and nothing else is.
func TestTelemetryMatchesMetadataYAML(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("..", "..", "metadata.yaml"))
	require.NoError(t, err)
	var md struct {
		Type      string `mapstructure:"type"`
		Telemetry struct {
			Metrics map[string]struct {
				Enabled     bool           `mapstructure:"enabled"`
				Stability   string         `mapstructure:"stability"`
				Description string         `mapstructure:"description"`
				Unit        string         `mapstructure:"unit"`
				Attributes  []string       `mapstructure:"attributes"`
				Sum         map[string]any `mapstructure:"sum"`
				Gauge       map[string]any `mapstructure:"gauge"`
				Histogram   map[string]any `mapstructure:"histogram"`
			} `mapstructure:"metrics"`
		} `mapstructure:"telemetry"`
		Attributes map[string]any `mapstructure:"attributes"`
	}
	require.NoError(t, cm.Unmarshal(&md, confmap.WithIgnoreUnused()))
	require.Equal(t, Type.String(), md.Type)

	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	tb, err := NewTelemetryBuilder(tt.NewTelemetrySettings())
	require.NoError(t, err)
	defer tb.Shutdown()
	ctx := context.Background()
	// Touch every instrument once so that each is collected.
	tb.ProcessorCoorlogAnomalies.Add(ctx, 1)
	tb.ProcessorCoorlogEvolved.Add(ctx, 1)
	tb.ProcessorCoorlogFeedback.Add(ctx, 1)
	tb.ProcessorCoorlogLlmCalls.Add(ctx, 1)
	tb.ProcessorCoorlogLlmErrors.Add(ctx, 1)
	tb.ProcessorCoorlogLlmLatency.Record(ctx, 0.1)
	tb.ProcessorCoorlogLlmTokens.Add(ctx, 1)
	tb.ProcessorCoorlogRecordsAnnotated.Add(ctx, 1)
	tb.ProcessorCoorlogRoutes.Add(ctx, 1)
	tb.ProcessorCoorlogSessionsClosed.Add(ctx, 1)
	tb.ProcessorCoorlogSessionsOpened.Add(ctx, 1)
	one := func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil }
	require.NoError(t, tb.RegisterProcessorCoorlogAemUpdatesCallback(one))
	require.NoError(t, tb.RegisterProcessorCoorlogCacheHitsCallback(one))
	require.NoError(t, tb.RegisterProcessorCoorlogCascadeDecisionsCallback(one))
	require.NoError(t, tb.RegisterProcessorCoorlogHeldAlarmsCallback(one))
	require.NoError(t, tb.RegisterProcessorCoorlogLearnSessionsCallback(one))
	require.NoError(t, tb.RegisterProcessorCoorlogOpenSessionsCallback(one))
	require.NoError(t, tb.RegisterProcessorCoorlogTauCallback(func(_ context.Context, o metric.Float64Observer) error { o.Observe(0.5); return nil }))

	var rm metricdata.ResourceMetrics
	require.NoError(t, tt.Reader.Collect(ctx, &rm))
	got := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	require.Len(t, got, len(md.Telemetry.Metrics), "one instrument per metric of metadata.yaml")
	for name, want := range md.Telemetry.Metrics {
		m, ok := got["otelcol_"+name]
		require.True(t, ok, "otelcol_%s is emitted", name)
		stability := strings.ToUpper(want.Stability[:1]) + want.Stability[1:]
		assert.Equal(t, want.Description+" ["+stability+"]", m.Description, name)
		assert.Equal(t, want.Unit, m.Unit, name)
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			require.NotNil(t, want.Sum, "%s is a sum", name)
			assert.Equal(t, want.Sum["monotonic"], d.IsMonotonic, name)
		case metricdata.Gauge[int64]:
			require.NotNil(t, want.Gauge, "%s is a gauge", name)
			assert.Equal(t, "int", want.Gauge["value_type"], name)
		case metricdata.Gauge[float64]:
			require.NotNil(t, want.Gauge, "%s is a gauge", name)
			assert.Equal(t, "double", want.Gauge["value_type"], name)
		case metricdata.Histogram[float64]:
			require.NotNil(t, want.Histogram, "%s is a histogram", name)
		default:
			t.Errorf("%s: unexpected data type %T", name, d)
		}
		for _, a := range want.Attributes {
			assert.Contains(t, md.Attributes, a, "%s: attribute %s is declared", name, a)
		}
	}
}
