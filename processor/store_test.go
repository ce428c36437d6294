package processor

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
)

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The byte estimate that MaxBufferedBytes caps must track what buffered
// records really keep alive on the heap.
func TestBufferedBytesEstimate(t *testing.T) {
	shapes := []struct {
		name string
		fill func(i int, lr plog.LogRecord)
	}{
		{"hdfs line, 2 attrs", func(i int, lr plog.LogRecord) {
			lr.Body().SetStr(fmt.Sprintf("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_%d terminating", i))
			lr.Attributes().PutStr("log.file.name", "hdfs.log")
		}},
		{"short line, 8 attrs", func(i int, lr plog.LogRecord) {
			lr.Body().SetStr(fmt.Sprintf("GET /api/%d 200", i))
			for a := range 8 {
				lr.Attributes().PutStr(fmt.Sprintf("attr.%d", a), fmt.Sprintf("value-%d-%d", a, i))
			}
		}},
		{"2 KiB line", func(i int, lr plog.LogRecord) {
			lr.Body().SetStr(fmt.Sprintf("%d %s", i, strings.Repeat("x", 2048)))
		}},
		{"map body", func(i int, lr plog.LogRecord) {
			m := lr.Body().SetEmptyMap()
			m.PutStr("msg", fmt.Sprintf("request %d done", i))
			m.PutInt("status", 200)
			m.PutDouble("latency", 0.25)
		}},
	}
	const n = 20_000
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			cfg := cfgOf(Config{KeySource: KeyFromAttribute, KeyName: "k", MaxRecords: 1 << 30,
				InactivityTimeout: time.Hour, MaxBufferedBytes: 1 << 40})
			p := newStarted(t, cfg, &fakeDetector{}, consumertest.NewNop(), nil)
			before := liveHeap()
			lds := make([]plog.Logs, n/1000)
			for b := range lds {
				lds[b] = plog.NewLogs()
				lrs := lds[b].ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
				for i := b * 1000; i < (b+1)*1000; i++ {
					lr := lrs.AppendEmpty()
					sh.fill(i, lr)
					lr.Attributes().PutStr("k", fmt.Sprintf("s%d", i%500))
				}
			}
			for _, ld := range lds {
				consume(t, p, ld)
			}
			lds = nil // the sessions hold copies; let the input go
			after := liveHeap()
			real := float64(after) - float64(before) // what the processor now holds
			est := float64(p.BufferedBytes())
			ratio := est / real
			t.Logf("%s: estimate %.0f B/record, heap %.0f B/record, ratio %.2f", sh.name, est/n, real/n, ratio)
			if ratio < 0.75 || ratio > 1.5 {
				t.Errorf("estimate off: %.0f vs %.0f bytes (ratio %.2f)", est, real, ratio)
			}
			shutdown(t, p)
		})
	}
}
