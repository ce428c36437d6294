package processor

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// wire is recs as OTLP bytes: two record slices are the same records when
// these are equal.
func wire(t *testing.T, recs plog.LogRecordSlice) []byte {
	t.Helper()
	ld := plog.NewLogs()
	recs.CopyTo(ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords())
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip holds recs and decodes them again.
func roundTrip(recs plog.LogRecordSlice) (heldRecords, plog.LogRecordSlice) {
	var h heldRecords
	for i := range recs.Len() {
		h.add(recs.At(i))
	}
	out := plog.NewLogRecordSlice()
	for i := range h.len() {
		h.decode(i, out.AppendEmpty(), 0)
	}
	return h, out
}

// randomValue fills v with a value of any type, nested up to depth.
func randomValue(r *rand.Rand, v pcommon.Value, depth int) {
	kinds := 6
	if depth > 0 {
		kinds = 8
	}
	switch r.IntN(kinds) {
	case 0:
		v.SetStr(randomText(r))
	case 1:
		v.SetInt(r.Int64() - math.MaxInt64/2)
	case 2:
		v.SetDouble(r.NormFloat64() * 1e6)
	case 3:
		v.SetBool(r.IntN(2) == 1)
	case 4:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		v.SetEmptyBytes().FromRaw(b)
	case 5: // empty
	case 6:
		m := v.SetEmptyMap()
		for j := range r.IntN(4) {
			randomValue(r, m.PutEmpty(fmt.Sprintf("k%d.%s", j, randomText(r))), depth-1)
		}
	case 7:
		s := v.SetEmptySlice()
		for range r.IntN(4) {
			randomValue(r, s.AppendEmpty(), depth-1)
		}
	}
}

func randomText(r *rand.Rand) string {
	const alphabet = "ab blk_-0123456789 é€\x00\xff:/"
	b := make([]byte, r.IntN(300))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func randomRecord(r *rand.Rand, lr plog.LogRecord) {
	if r.IntN(4) > 0 {
		lr.SetTimestamp(pcommon.Timestamp(r.Uint64()))
		lr.SetObservedTimestamp(pcommon.Timestamp(r.Uint64()))
		lr.SetSeverityNumber(plog.SeverityNumber(r.IntN(25)))
		lr.SetSeverityText(randomText(r)[:0] + "WARN")
		lr.SetEventName(randomText(r))
		lr.SetFlags(plog.LogRecordFlags(r.Uint32()))
		lr.SetDroppedAttributesCount(r.Uint32())
		var tid pcommon.TraceID
		var sid pcommon.SpanID
		for i := range tid {
			tid[i] = byte(r.IntN(256))
		}
		for i := range sid {
			sid[i] = byte(r.IntN(256))
		}
		lr.SetTraceID(tid)
		lr.SetSpanID(sid)
	}
	randomValue(r, lr.Body(), 3)
	for j := range r.IntN(6) {
		randomValue(r, lr.Attributes().PutEmpty(fmt.Sprintf("attr.%d", j)), 3)
	}
}

// Every field and every value type comes back as it went in.
func TestHeldRoundTrip(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 7))
		recs := plog.NewLogRecordSlice()
		for range 50 {
			randomRecord(r, recs.AppendEmpty())
		}
		_, out := roundTrip(recs)
		if !bytes.Equal(wire(t, out), wire(t, recs)) {
			for i := range recs.Len() {
				a, b := plog.NewLogRecordSlice(), plog.NewLogRecordSlice()
				recs.At(i).CopyTo(a.AppendEmpty())
				out.At(i).CopyTo(b.AppendEmpty())
				if !bytes.Equal(wire(t, a), wire(t, b)) {
					t.Fatalf("seed %d, record %d: decoded record differs\nin:  %v\nout: %v", seed, i,
						recs.At(i).Body().AsRaw(), out.At(i).Body().AsRaw())
				}
			}
		}
	}
}

// A held record is a copy: changing or dropping the original afterwards does
// not reach it, and strings made from earlier records stay as they were while
// later ones are added.
func TestHeldIsACopy(t *testing.T) {
	var h heldRecords
	lr := plog.NewLogRecord()
	lr.Body().SetStr("first body")
	lr.Attributes().PutStr("k", "v")
	h.add(lr)
	lr.Body().SetStr("changed")
	lr.Attributes().PutStr("k", "changed")
	first := h.line(0, 100)
	for i := range 1000 { // far past firstHeldBytes: data moves
		lr.Body().SetStr(strings.Repeat("x", i%50))
		h.add(lr)
	}
	got := plog.NewLogRecord()
	a := h.decode(0, got, 0)
	if v, _ := a.Get("k"); got.Body().Str() != "first body" || v.Str() != "v" || first != "first body" {
		t.Fatalf("held record changed: body %q, k %q, line %q", got.Body().Str(), v.Str(), first)
	}
}

// line is detectorLine of the body, whatever its type.
func TestHeldLine(t *testing.T) {
	recs := plog.NewLogRecordSlice()
	recs.AppendEmpty().Body().SetStr("plain line")
	recs.AppendEmpty().Body().SetStr(strings.Repeat("é", 100)) // cut on a rune boundary
	recs.AppendEmpty().Body().SetStr("bad \xff utf-8")
	m := recs.AppendEmpty().Body().SetEmptyMap()
	m.PutStr("msg", "done")
	m.PutInt("status", 200)
	recs.AppendEmpty().Body().SetInt(42)
	recs.AppendEmpty() // empty body
	h, _ := roundTrip(recs)
	for i := range recs.Len() {
		if got, want := h.line(i, 51), detectorLine(recs.At(i).Body(), 51); got != want {
			t.Errorf("record %d: line %q, want %q", i, got, want)
		}
	}
}

// attrStr finds string attributes only, past bodies and values of any type.
func TestHeldAttrStr(t *testing.T) {
	lr := plog.NewLogRecord()
	lr.Body().SetEmptyMap().PutStr("log.record.template", "in the body, not an attribute")
	lr.SetSeverityText("INFO")
	a := lr.Attributes()
	a.PutEmptySlice("list").AppendEmpty().SetStr("x")
	a.PutInt("n", 7)
	a.PutStr("name", "value")
	a.PutEmptyMap("m").PutStr("name", "nested")
	var h heldRecords
	h.add(lr)
	for key, want := range map[string]string{"name": "value", "n": "", "m": "", "list": "", "log.record.template": "", "absent": ""} {
		got, ok := h.attrStr(0, key)
		if got != want || ok != (want != "") {
			t.Errorf("attrStr(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

// The time range falls back to observed time and ignores records with none.
func TestHeldTimeRange(t *testing.T) {
	recs := plog.NewLogRecordSlice()
	recs.AppendEmpty().SetTimestamp(50)
	recs.AppendEmpty().SetObservedTimestamp(20)
	recs.AppendEmpty()
	recs.AppendEmpty().SetTimestamp(90)
	h, _ := roundTrip(recs)
	if first, last := h.timeRange(); first != 20 || last != 90 {
		t.Fatalf("timeRange = %d, %d; want 20, 90", first, last)
	}
	if first, last := (&heldRecords{}).timeRange(); first != 0 || last != 0 {
		t.Fatalf("empty: %d, %d", first, last)
	}
}

// BenchmarkHeld is the cost of holding one HDFS record: add, then decode.
func BenchmarkHeld(b *testing.B) {
	lr := plog.NewLogRecord()
	lr.Body().SetStr("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating")
	lr.Attributes().PutStr("log.file.name", "hdfs.log")
	lr.SetObservedTimestamp(1)
	b.ReportAllocs()
	for b.Loop() {
		var h heldRecords
		for range 20 {
			h.add(lr)
		}
		out := plog.NewLogRecordSlice()
		out.EnsureCapacity(20)
		for i := range 20 {
			h.decode(i, out.AppendEmpty(), 2)
		}
	}
}
