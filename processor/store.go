package processor

import (
	"hash/maphash"
	"strconv"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// resRef is one copy of a resource (attributes, schema URL), shared by every
// buffered record that came with it. Immutable once published.
type resRef struct {
	rl plog.ResourceLogs // resource and schema URL only; no scopes
	fp uint64
}

// scopeRef is one copy of an instrumentation scope under a resource, shared
// by the buffered records that came with it. Immutable once published.
type scopeRef struct {
	res *resRef
	sl  plog.ScopeLogs // scope and schema URL only; no records
	fp  uint64         // covers the resource too
}

// internLimit bounds the intern tables; when one is full it is cleared.
// Interning only saves memory and lets a session's runs merge by pointer;
// the emitter also merges equal scopes by content.
const internLimit = 4096

// interner hands out shared refs for equal resources/scopes across batches.
// Guarded by Processor.internMu.
type interner struct {
	seed   maphash.Seed
	res    map[uint64]*resRef
	scopes map[uint64]*scopeRef
}

func newInterner() *interner {
	return &interner{seed: maphash.MakeSeed(), res: map[uint64]*resRef{}, scopes: map[uint64]*scopeRef{}}
}

func (in *interner) resource(rl plog.ResourceLogs) *resRef {
	var h maphash.Hash
	h.SetSeed(in.seed)
	h.WriteString(rl.SchemaUrl())
	writeUint(&h, uint64(rl.Resource().DroppedAttributesCount()))
	hashMap(&h, rl.Resource().Attributes())
	fp := h.Sum64()
	if r, ok := in.res[fp]; ok && sameResource(r.rl, rl) {
		return r
	}
	r := &resRef{rl: plog.NewResourceLogs(), fp: fp}
	rl.Resource().CopyTo(r.rl.Resource())
	r.rl.SetSchemaUrl(rl.SchemaUrl())
	if len(in.res) >= internLimit {
		clear(in.res)
	}
	in.res[fp] = r
	return r
}

func (in *interner) scope(res *resRef, sl plog.ScopeLogs) *scopeRef {
	var h maphash.Hash
	h.SetSeed(in.seed)
	writeUint(&h, res.fp)
	h.WriteString(sl.SchemaUrl())
	sc := sl.Scope()
	h.WriteString(sc.Name())
	h.WriteByte(0)
	h.WriteString(sc.Version())
	writeUint(&h, uint64(sc.DroppedAttributesCount()))
	hashMap(&h, sc.Attributes())
	fp := h.Sum64()
	if s, ok := in.scopes[fp]; ok && s.res == res && sameScope(s.sl, sl) {
		return s
	}
	s := &scopeRef{res: res, sl: plog.NewScopeLogs(), fp: fp}
	sc.CopyTo(s.sl.Scope())
	s.sl.SetSchemaUrl(sl.SchemaUrl())
	if len(in.scopes) >= internLimit {
		clear(in.scopes)
	}
	in.scopes[fp] = s
	return s
}

func sameResource(a, b plog.ResourceLogs) bool {
	return a.SchemaUrl() == b.SchemaUrl() &&
		a.Resource().DroppedAttributesCount() == b.Resource().DroppedAttributesCount() &&
		a.Resource().Attributes().Equal(b.Resource().Attributes())
}

func sameScope(a, b plog.ScopeLogs) bool {
	x, y := a.Scope(), b.Scope()
	return a.SchemaUrl() == b.SchemaUrl() && x.Name() == y.Name() && x.Version() == y.Version() &&
		x.DroppedAttributesCount() == y.DroppedAttributesCount() && x.Attributes().Equal(y.Attributes())
}

func writeUint(h *maphash.Hash, v uint64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	_, _ = h.Write(b[:])
}

// hashMap hashes keys, types and values in stored order (equal maps stored in
// another order only miss the interning; correctness never depends on it).
func hashMap(h *maphash.Hash, m pcommon.Map) {
	for k, v := range m.All() {
		h.WriteString(k)
		h.WriteByte(byte(v.Type()))
		h.WriteString(v.AsString())
		h.WriteByte(0)
	}
}

// Byte accounting: an estimate of what a buffered record keeps alive, in
// the form a session holds it (heldRecords): its heldMeta, the bytes it
// appends (string and byte contents exactly, a few bytes of framing per
// part), and the room that slices grown by doubling leave free, two fifths
// on top (TestBufferedBytesEstimate measures the heap against it).
const (
	recordOverhead = int64(unsafe.Sizeof(heldMeta{})) + 4
	kvOverhead     = 2
	valueOverhead  = 2
)

func recordBytes(lr plog.LogRecord) int64 {
	n := recordOverhead + valueBytes(lr.Body()) + int64(len(lr.SeverityText())+len(lr.EventName()))
	for k, v := range lr.Attributes().All() {
		n += kvOverhead + int64(len(k)) + valueBytes(v)
	}
	return n * 7 / 5
}

func valueBytes(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return valueOverhead + int64(len(v.Str()))
	case pcommon.ValueTypeBytes:
		return valueOverhead + int64(v.Bytes().Len())
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble:
		return 1 + 8
	case pcommon.ValueTypeMap:
		n := int64(valueOverhead)
		for k, e := range v.Map().All() {
			n += kvOverhead + int64(len(k)) + valueBytes(e)
		}
		return n
	case pcommon.ValueTypeSlice:
		n := int64(valueOverhead)
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			n += valueBytes(sl.At(i))
		}
		return n
	default:
		return valueOverhead
	}
}

// fallbackID names a resource's fallback session.
func fallbackID(fp uint64) string {
	return "resource-" + strconv.FormatUint(fp, 16)
}
