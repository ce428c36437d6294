package processor

import (
	"encoding/binary"
	"math"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// heldRecords is a session's records from the moment they arrive until the
// session is annotated, in a form the garbage collector does not scan: the
// fixed fields in a slice of pointer-free structs, everything of variable
// length (body, severity text, event name, attributes) appended to one byte
// slice. As pdata, a held HDFS record is five or six objects of pointers that
// every GC cycle marks while the session is open; the long throughput file
// kept 64 MiB of them alive, and GC marking was the largest part of what
// coorlog added per record (docs/notes/collector.md).
//
// annotate turns the session into plog records again (decode). Their strings
// point into data instead of being copied: data is only ever appended to,
// never rewritten or reused, so a string made from it stays valid and
// unchanged for as long as anything holds it (the GC keeps the array alive
// through it). Strings are made only once the session is closed, when
// nothing appends any more.
type heldRecords struct {
	meta []heldMeta
	data []byte
}

// heldMeta is one record's fixed fields and where its parts lie in data:
// the body at data[body:bodyEnd] (a string body's bytes as they are, any
// other value encoded, see appendValue), then severity text, event name and
// attributes up to data[:end].
type heldMeta struct {
	time, observed     uint64
	traceID            [16]byte
	spanID             [8]byte
	severity           int32
	flags, dropped     uint32
	bodyType           pcommon.ValueType
	body, bodyEnd, end int
}

// firstHeldBytes is the data capacity a session starts with: a 20-line HDFS
// block session holds about 3.5 KB.
const firstHeldBytes = 2048

func (h *heldRecords) len() int { return len(h.meta) }

// add appends a copy of lr; lr itself is left as it is.
func (h *heldRecords) add(lr plog.LogRecord) {
	if h.data == nil {
		h.data = make([]byte, 0, firstHeldBytes)
	}
	m := heldMeta{
		time: uint64(lr.Timestamp()), observed: uint64(lr.ObservedTimestamp()),
		traceID: lr.TraceID(), spanID: lr.SpanID(),
		severity: int32(lr.SeverityNumber()), flags: uint32(lr.Flags()), dropped: lr.DroppedAttributesCount(),
	}
	body := lr.Body()
	m.bodyType = body.Type()
	m.body = len(h.data)
	if m.bodyType == pcommon.ValueTypeStr {
		h.data = append(h.data, body.Str()...)
	} else {
		h.data = appendValue(h.data, body)
	}
	m.bodyEnd = len(h.data)
	h.data = appendString(h.data, lr.SeverityText())
	h.data = appendString(h.data, lr.EventName())
	h.data = appendMap(h.data, lr.Attributes())
	m.end = len(h.data)
	h.meta = append(h.meta, m)
}

// str is b as a string without a copy (see heldRecords on why that is safe).
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// line is what the detector reads of record i (detectorLine of its body).
func (h *heldRecords) line(i, max int) string {
	m := &h.meta[i]
	if m.bodyType == pcommon.ValueTypeStr {
		return capLine(str(h.data[m.body:m.bodyEnd]), max)
	}
	v := pcommon.NewValueEmpty()
	readValue(h.data[m.body:m.bodyEnd], v)
	return detectorLine(v, max)
}

// attrStr is record i's attribute key when it is a string.
func (h *heldRecords) attrStr(i int, key string) (string, bool) {
	m := &h.meta[i]
	r := heldReader{b: h.data[m.bodyEnd:m.end]}
	r.string() // severity text
	r.string() // event name
	for n := r.uvarint(); n > 0; n-- {
		k := r.string()
		if k == key && r.b[0] == byte(pcommon.ValueTypeStr) {
			r.b = r.b[1:]
			return r.string(), true
		}
		r.skipValue()
	}
	return "", false
}

// timeRange is the earliest and latest record time (event time, else
// observed time); zero when no record has one.
func (h *heldRecords) timeRange() (first, last pcommon.Timestamp) {
	first = pcommon.Timestamp(math.MaxUint64)
	for i := range h.meta {
		t := h.meta[i].time
		if t == 0 {
			t = h.meta[i].observed
		}
		if t == 0 {
			continue
		}
		first, last = min(first, pcommon.Timestamp(t)), max(last, pcommon.Timestamp(t))
	}
	if last == 0 {
		first = 0
	}
	return first, last
}

// decode writes record i into dst, an empty record, and returns dst's
// attributes with room for extra more.
func (h *heldRecords) decode(i int, dst plog.LogRecord, extra int) pcommon.Map {
	m := &h.meta[i]
	dst.SetTimestamp(pcommon.Timestamp(m.time))
	dst.SetObservedTimestamp(pcommon.Timestamp(m.observed))
	dst.SetTraceID(m.traceID)
	dst.SetSpanID(m.spanID)
	dst.SetSeverityNumber(plog.SeverityNumber(m.severity))
	dst.SetFlags(plog.LogRecordFlags(m.flags))
	dst.SetDroppedAttributesCount(m.dropped)
	if m.bodyType == pcommon.ValueTypeStr {
		dst.Body().SetStr(str(h.data[m.body:m.bodyEnd]))
	} else {
		readValue(h.data[m.body:m.bodyEnd], dst.Body())
	}
	r := heldReader{b: h.data[m.bodyEnd:m.end]}
	dst.SetSeverityText(r.string())
	dst.SetEventName(r.string())
	n := int(r.uvarint())
	a := dst.Attributes()
	a.EnsureCapacity(n + extra)
	r.mapInto(a, n)
	return a
}

// The encoding of values: the value type (one byte), then
//
//	Str, Bytes: length (uvarint), bytes
//	Int: zig-zag varint; Double: IEEE 754 bits, 8 bytes little-endian
//	Bool: one byte; Empty: nothing
//	Map: entry count (uvarint), then per entry key (length, bytes) and value
//	Slice: element count (uvarint), then the values

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendMap(b []byte, m pcommon.Map) []byte {
	b = binary.AppendUvarint(b, uint64(m.Len()))
	for k, v := range m.All() {
		b = appendString(b, k)
		b = appendValue(b, v)
	}
	return b
}

func appendValue(b []byte, v pcommon.Value) []byte {
	t := v.Type()
	b = append(b, byte(t))
	switch t {
	case pcommon.ValueTypeStr:
		b = appendString(b, v.Str())
	case pcommon.ValueTypeInt:
		b = binary.AppendVarint(b, v.Int())
	case pcommon.ValueTypeDouble:
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case pcommon.ValueTypeBytes:
		b = binary.AppendUvarint(b, uint64(v.Bytes().Len()))
		b = append(b, v.Bytes().AsRaw()...)
	case pcommon.ValueTypeMap:
		b = appendMap(b, v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		b = binary.AppendUvarint(b, uint64(s.Len()))
		for i := range s.Len() {
			b = appendValue(b, s.At(i))
		}
	}
	return b
}

// heldReader reads what the append functions wrote. The bytes were written
// by this file in this process, so they are well formed.
type heldReader struct{ b []byte }

func (r *heldReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	r.b = r.b[n:]
	return v
}

func (r *heldReader) string() string {
	n := int(r.uvarint())
	s := str(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *heldReader) mapInto(m pcommon.Map, n int) {
	for ; n > 0; n-- {
		k := r.string()
		if r.b[0] == byte(pcommon.ValueTypeStr) { // the common case, without an empty value first
			r.b = r.b[1:]
			m.PutStr(k, r.string())
			continue
		}
		r.value(m.PutEmpty(k))
	}
}

func (r *heldReader) value(v pcommon.Value) {
	t := pcommon.ValueType(r.b[0])
	r.b = r.b[1:]
	switch t {
	case pcommon.ValueTypeStr:
		v.SetStr(r.string())
	case pcommon.ValueTypeInt:
		x, n := binary.Varint(r.b)
		r.b = r.b[n:]
		v.SetInt(x)
	case pcommon.ValueTypeDouble:
		v.SetDouble(math.Float64frombits(binary.LittleEndian.Uint64(r.b)))
		r.b = r.b[8:]
	case pcommon.ValueTypeBool:
		v.SetBool(r.b[0] == 1)
		r.b = r.b[1:]
	case pcommon.ValueTypeBytes:
		n := int(r.uvarint())
		v.SetEmptyBytes().FromRaw(r.b[:n])
		r.b = r.b[n:]
	case pcommon.ValueTypeMap:
		n := int(r.uvarint())
		m := v.SetEmptyMap()
		m.EnsureCapacity(n)
		r.mapInto(m, n)
	case pcommon.ValueTypeSlice:
		n := int(r.uvarint())
		s := v.SetEmptySlice()
		s.EnsureCapacity(n)
		for ; n > 0; n-- {
			r.value(s.AppendEmpty())
		}
	}
}

func (r *heldReader) skipValue() {
	t := pcommon.ValueType(r.b[0])
	r.b = r.b[1:]
	switch t {
	case pcommon.ValueTypeStr, pcommon.ValueTypeBytes:
		n := int(r.uvarint())
		r.b = r.b[n:]
	case pcommon.ValueTypeInt:
		_, n := binary.Varint(r.b)
		r.b = r.b[n:]
	case pcommon.ValueTypeDouble:
		r.b = r.b[8:]
	case pcommon.ValueTypeBool:
		r.b = r.b[1:]
	case pcommon.ValueTypeMap:
		for n := r.uvarint(); n > 0; n-- {
			r.string()
			r.skipValue()
		}
	case pcommon.ValueTypeSlice:
		for n := r.uvarint(); n > 0; n-- {
			r.skipValue()
		}
	}
}

// readValue decodes one encoded value from b into v.
func readValue(b []byte, v pcommon.Value) {
	r := heldReader{b: b}
	r.value(v)
}
