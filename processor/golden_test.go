package processor

import (
	"cmp"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
)

var updateGolden = flag.Bool("update", false, "rewrite processor/testdata/golden/*.expected.json from what the processor writes")

// goldenRecord is one output record in a canonical form: the records of all
// batches, sorted, with their resource and scope.
type goldenRecord struct {
	Resource   map[string]any `json:"resource"`
	Scope      string         `json:"scope"`
	Time       string         `json:"time"`
	Severity   string         `json:"severity"`
	Body       string         `json:"body"`
	Attributes map[string]any `json:"attributes"`
}

func canonical(lds []plog.Logs) []goldenRecord {
	var out []goldenRecord
	for _, ld := range lds {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				sl := rl.ScopeLogs().At(j)
				for k := 0; k < sl.LogRecords().Len(); k++ {
					r := sl.LogRecords().At(k)
					out = append(out, goldenRecord{Resource: rl.Resource().Attributes().AsRaw(), Scope: sl.Scope().Name(),
						Time: r.Timestamp().AsTime().UTC().Format(time.RFC3339Nano), Severity: r.SeverityText(),
						Body: r.Body().AsString(), Attributes: r.Attributes().AsRaw()})
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b goldenRecord) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Body, b.Body))
	})
	return out
}

// The annotation contract, golden: testdata/golden/NAME.input.json (OTLP
// JSON) goes through the processor with the content-keyed fakeDetector,
// and what comes out must equal NAME.expected.json:
//   - sessions: every record with its anomaly.* attributes, the summary
//     record of the anomalous session, the unkeyed record untouched
//   - templates: records that arrive with log.record.template keep it and
//     their session's content key comes from it (the fake detector writes
//     the key it was handed into the reason: blk_1 and blk_2 differ in their
//     lines, not in their templates); a session with a record without one is
//     keyed by its lines; with WriteTemplate those records get ours
//
// `go test ./processor -run TestGolden -update` rewrites the expected files;
// review the diff.
func TestGolden(t *testing.T) {
	for name, edit := range map[string]func(*Config){
		"sessions":  func(*Config) {},
		"templates": func(c *Config) { c.WriteTemplate = true },
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "golden")
			raw, err := os.ReadFile(filepath.Join(dir, name+".input.json"))
			if err != nil {
				t.Fatal(err)
			}
			in, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(raw)
			if err != nil {
				t.Fatal(err)
			}
			sink := new(consumertest.LogsSink)
			cfg := cfgOf(Config{KeySource: KeyFromAttribute, KeyName: "block", MissingKey: MissingKeyPassThrough, Workers: 1,
				InactivityTimeout: time.Hour, EmitSummary: true, ModelVersion: "fake-1"})
			edit(&cfg)
			p, err := New(cfg, &fakeDetector{}, sink, zap.NewNop(), nil)
			if err != nil {
				t.Fatal(err)
			}
			p.now = func() time.Time { return time.Date(2023, 11, 14, 22, 20, 0, 0, time.UTC) }
			if err := p.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			consume(t, p, in)
			shutdown(t, p) // closes and scores every session

			got, err := json.MarshalIndent(canonical(sink.AllLogs()), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			want := filepath.Join(dir, name+".expected.json")
			if *updateGolden {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(exp) != string(got) {
				t.Fatalf("output differs from %s (-update rewrites it):\n%s", want, got)
			}
		})
	}
}
