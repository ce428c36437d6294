package encoder

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"strings"
)

// pytorch_model.bin is written by torch.save (zip format, torch >= 1.6):
// <prefix>/data.pkl is a pickle of the state dict in which each tensor is
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...), and
// each storage is a persistent id ("storage", torch.FloatStorage, key,
// location, numel) whose bytes are the zip entry <prefix>/data/<key>.
//
// The reader below is a small pickle machine for exactly the opcodes and
// globals torch.save emits. It executes nothing: globals are only names, and
// a REDUCE of anything but the few known constructors yields an opaque value.
// Every length and index is checked against the input, so a corrupt file is
// an error, never a panic.

type pyGlobal struct{ module, name string }

type pyTuple []any

type pyList struct{ items []any }

// pyDict keeps insertion order, as OrderedDict does.
type pyDict struct {
	keys []any
	vals map[any]any
}

func newPyDict() *pyDict { return &pyDict{vals: map[any]any{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64:
	default:
		return fmt.Errorf("unsupported dict key type %T", k)
	}
	if _, ok := d.vals[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[k] = v
	return nil
}

type pyOpaque struct{ of pyGlobal }

type pyMark struct{}

type torchStorage struct {
	dtype string // safetensors dtype name
	key   string
	numel int64
}

type torchTensor struct {
	storage torchStorage
	offset  int64
	size    []int64
	stride  []int64
}

// torchStorageDTypes maps torch storage classes to safetensors dtype names.
var torchStorageDTypes = map[string]string{
	"FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16",
	"DoubleStorage": "F64", "LongStorage": "I64", "IntStorage": "I32",
	"ShortStorage": "I16", "CharStorage": "I8", "ByteStorage": "U8", "BoolStorage": "BOOL",
}

// readTorchBin reads the tensors of a torch.save zip archive.
func readTorchBin(path string) (map[string]rawTensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return nil, fmt.Errorf("%s: too short for a torch checkpoint: %w", path, err)
	}
	if string(magic[:]) != "PK\x03\x04" {
		return nil, fmt.Errorf("%s: not a zip archive: the legacy (torch < 1.6) format is not supported; re-save with a current torch.save or convert to model.safetensors", path)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt zip archive: %w", path, err)
	}
	var prefix string
	entries := map[string]*zip.File{}
	for _, zf := range zr.File {
		entries[zf.Name] = zf
		if strings.HasSuffix(zf.Name, "/data.pkl") && strings.Count(zf.Name, "/") == 1 {
			prefix = strings.TrimSuffix(zf.Name, "data.pkl")
		}
	}
	if prefix == "" {
		return nil, fmt.Errorf("%s: no <name>/data.pkl in the archive: not a torch.save checkpoint", path)
	}
	if bo, ok := entries[prefix+"byteorder"]; ok {
		b, err := readZipEntry(bo, 16)
		if err != nil {
			return nil, fmt.Errorf("%s: byteorder: %w", path, err)
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, fmt.Errorf("%s: byte order %q is not supported", path, s)
		}
	}
	pkl, err := readZipEntry(entries[prefix+"data.pkl"], 1<<30)
	if err != nil {
		return nil, fmt.Errorf("%s: data.pkl: %w", path, err)
	}
	root, err := unpickle(pkl)
	if err != nil {
		return nil, fmt.Errorf("%s: data.pkl: %w", path, err)
	}
	dict, ok := root.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("%s: data.pkl holds %T, want a state dict", path, root)
	}
	storages := map[string][]byte{}
	out := map[string]rawTensor{}
	for _, k := range dict.keys {
		name, ok := k.(string)
		if !ok {
			continue
		}
		t, ok := dict.vals[k].(torchTensor)
		if !ok {
			continue // not a tensor (e.g. an int); the loader ignores it
		}
		data, ok := storages[t.storage.key]
		if !ok {
			zf := entries[prefix+"data/"+t.storage.key]
			if zf == nil {
				return nil, fmt.Errorf("%s: tensor %q: storage %q missing from the archive", path, name, t.storage.key)
			}
			sz := int64(dtypeSize(t.storage.dtype))
			want := t.storage.numel * sz
			if t.storage.numel < 0 || sz == 0 || want/sz != t.storage.numel {
				return nil, fmt.Errorf("%s: tensor %q: bad storage size", path, name)
			}
			if data, err = readZipEntry(zf, want); err != nil {
				return nil, fmt.Errorf("%s: tensor %q: storage %q: %w", path, name, t.storage.key, err)
			}
			if int64(len(data)) != want {
				return nil, fmt.Errorf("%s: tensor %q: storage %q has %d bytes, want %d: truncated?", path, name, t.storage.key, len(data), want)
			}
			storages[t.storage.key] = data
		}
		r, err := t.materialise(data)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		out[name] = r
	}
	return out, nil
}

// readZipEntry reads a whole entry, refusing more than limit bytes.
func readZipEntry(zf *zip.File, limit int64) ([]byte, error) {
	if zf == nil {
		return nil, errors.New("missing")
	}
	if zf.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("entry %s is %d bytes, more than the %d expected", zf.Name, zf.UncompressedSize64, limit)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", zf.Name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("entry %s is larger than the %d bytes expected", zf.Name, limit)
	}
	return b, nil
}

// materialise copies the (possibly strided) view out of its storage bytes
// into a contiguous row-major rawTensor.
func (t torchTensor) materialise(storage []byte) (rawTensor, error) {
	sz := int64(dtypeSize(t.storage.dtype))
	if len(t.size) != len(t.stride) {
		return rawTensor{}, fmt.Errorf("size %v and stride %v differ in rank", t.size, t.stride)
	}
	// Bound every factor by 2^40 so that no product below can overflow.
	const lim = int64(1) << 40
	numel := int64(1)
	maxIdx := t.offset
	for i, d := range t.size {
		s := t.stride[i]
		if d < 0 || d > lim || s < 0 || s > lim || (d > 0 && numel > lim/d) || (d > 1 && s > 0 && d-1 > lim/s) {
			return rawTensor{}, fmt.Errorf("bad size %v / stride %v", t.size, t.stride)
		}
		numel *= d
		if d > 0 {
			maxIdx += (d - 1) * s
		}
	}
	if t.offset < 0 || t.offset > lim || (numel > 0 && (maxIdx+1)*sz > int64(len(storage))) {
		return rawTensor{}, fmt.Errorf("view (offset %d, size %v, stride %v) reaches past its storage of %d elements", t.offset, t.size, t.stride, int64(len(storage))/sz)
	}
	out := rawTensor{DType: t.storage.dtype, Shape: append([]int64(nil), t.size...)}
	if numel == 0 {
		out.Data = []byte{}
		return out, nil
	}
	contiguous, want := true, int64(1)
	for i := len(t.size) - 1; i >= 0; i-- {
		if t.size[i] != 1 && t.stride[i] != want {
			contiguous = false
			break
		}
		want *= t.size[i]
	}
	if contiguous {
		out.Data = storage[t.offset*sz : (t.offset+numel)*sz]
		return out, nil
	}
	out.Data = make([]byte, numel*sz)
	idx := make([]int64, len(t.size))
	for n := int64(0); n < numel; n++ {
		src := t.offset
		for i, j := range idx {
			src += j * t.stride[i]
		}
		copy(out.Data[n*sz:(n+1)*sz], storage[src*sz:(src+1)*sz])
		for i := len(idx) - 1; i >= 0; i-- { // odometer increment
			idx[i]++
			if idx[i] < t.size[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

// unpickle runs the pickle program in data and returns its result.
func unpickle(data []byte) (any, error) {
	m := &unpickler{r: bytes.NewReader(data), memo: map[int64]any{}}
	return m.run()
}

type unpickler struct {
	r     *bytes.Reader
	stack []any
	memo  map[int64]any
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	if _, isMark := v.(pyMark); isMark {
		return nil, errors.New("unexpected MARK")
	}
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops everything above the last MARK, and the MARK.
func (u *unpickler) popMark() ([]any, error) {
	for i := len(u.stack) - 1; i >= 0; i-- {
		if _, ok := u.stack[i].(pyMark); ok {
			items := append([]any(nil), u.stack[i+1:]...)
			u.stack = u.stack[:i]
			return items, nil
		}
	}
	return nil, errors.New("no MARK on the stack")
}

func (u *unpickler) bytesN(n int64) ([]byte, error) {
	if n < 0 || n > int64(u.r.Len()) {
		return nil, fmt.Errorf("length %d runs past the end of the pickle", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(u.r, b)
	return b, err
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.bytesN(int64(n))
	if err != nil {
		return 0, err
	}
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:]), nil
}

func (u *unpickler) line() (string, error) {
	var sb strings.Builder
	for {
		c, err := u.r.ReadByte()
		if err != nil {
			return "", errors.New("unterminated line")
		}
		if c == '\n' {
			return sb.String(), nil
		}
		sb.WriteByte(c)
	}
}

func (u *unpickler) run() (any, error) {
	for {
		op, err := u.r.ReadByte()
		if err != nil {
			return nil, errors.New("pickle ends without STOP: truncated")
		}
		if err := u.step(op); err != nil {
			if errors.Is(err, errStop) {
				return u.pop()
			}
			return nil, fmt.Errorf("opcode 0x%02x at byte %d: %w", op, int(u.r.Size())-u.r.Len()-1, err)
		}
	}
}

var errStop = errors.New("STOP")

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		_, err := u.uint(1)
		return err
	case 0x95: // FRAME
		_, err := u.uint(8)
		return err
	case '.': // STOP
		return errStop
	case '(': // MARK
		u.push(pyMark{})
	case ')': // EMPTY_TUPLE
		u.push(pyTuple{})
	case '}': // EMPTY_DICT
		u.push(newPyDict())
	case ']': // EMPTY_LIST
		u.push(&pyList{})
	case 'N':
		u.push(nil)
	case 0x88: // NEWTRUE
		u.push(true)
	case 0x89: // NEWFALSE
		u.push(false)
	case 'K', 'M', 'J': // BININT1, BININT2, BININT
		n := map[byte]int{'K': 1, 'M': 2, 'J': 4}[op]
		v, err := u.uint(n)
		if err != nil {
			return err
		}
		if op == 'J' {
			u.push(int64(int32(uint32(v))))
		} else {
			u.push(int64(v))
		}
	case 0x8a: // LONG1
		n, err := u.uint(1)
		if err != nil {
			return err
		}
		b, err := u.bytesN(int64(n))
		if err != nil {
			return err
		}
		v, err := decodeLong(b)
		if err != nil {
			return err
		}
		u.push(v)
	case 'G': // BINFLOAT (big-endian)
		b, err := u.bytesN(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e: // strings and bytes
		n := map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8, 'T': 4, 'U': 1, 'B': 4, 'C': 1, 0x8e: 8}[op]
		l, err := u.uint(n)
		if err != nil {
			return err
		}
		if l > math.MaxInt32 {
			return fmt.Errorf("string of %d bytes", l)
		}
		b, err := u.bytesN(int64(l))
		if err != nil {
			return err
		}
		u.push(string(b))
	case 'c': // GLOBAL "module\nname\n"
		mod, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		u.push(pyGlobal{mod, name})
	case 0x93: // STACK_GLOBAL
		name, err := u.pop()
		if err != nil {
			return err
		}
		mod, err := u.pop()
		if err != nil {
			return err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return errors.New("STACK_GLOBAL needs two strings")
		}
		u.push(pyGlobal{ms, ns})
	case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
		var idx int64
		switch op {
		case 'q', 'r':
			n := 1
			if op == 'r' {
				n = 4
			}
			v, err := u.uint(n)
			if err != nil {
				return err
			}
			idx = int64(v)
		default:
			idx = int64(len(u.memo))
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		u.memo[idx] = v
	case 'h', 'j': // BINGET, LONG_BINGET
		n := 1
		if op == 'j' {
			n = 4
		}
		idx, err := u.uint(n)
		if err != nil {
			return err
		}
		v, ok := u.memo[int64(idx)]
		if !ok {
			return fmt.Errorf("memo %d not set", idx)
		}
		u.push(v)
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(pyTuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op-0x85) + 1
		if len(u.stack) < n {
			return errors.New("stack underflow")
		}
		items := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
		for _, it := range items {
			if _, isMark := it.(pyMark); isMark {
				return errors.New("unexpected MARK")
			}
		}
		u.stack = u.stack[:len(u.stack)-n]
		u.push(items)
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		l, err := u.top()
		if err != nil {
			return err
		}
		if pl, ok := l.(*pyList); ok {
			pl.items = append(pl.items, v)
		}
	case 'e': // APPENDS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		l, err := u.top()
		if err != nil {
			return err
		}
		if pl, ok := l.(*pyList); ok {
			pl.items = append(pl.items, items...)
		}
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		d, err := u.top()
		if err != nil {
			return err
		}
		if pd, ok := d.(*pyDict); ok {
			return pd.set(k, v)
		}
		return fmt.Errorf("SETITEM on %T", d)
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return errors.New("SETITEMS with an odd number of items")
		}
		d, err := u.top()
		if err != nil {
			return err
		}
		pd, ok := d.(*pyDict)
		if !ok {
			return fmt.Errorf("SETITEMS on %T", d)
		}
		for i := 0; i < len(items); i += 2 {
			if err := pd.set(items[i], items[i+1]); err != nil {
				return err
			}
		}
	case 'b': // BUILD: object state (OrderedDict's _metadata); ignored
		if _, err := u.pop(); err != nil {
			return err
		}
		if _, err := u.top(); err != nil {
			return err
		}
	case '0': // POP
		_, err := u.pop()
		return err
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		s, err := storageFromPID(pid)
		if err != nil {
			return err
		}
		u.push(s)
	case 'R', 0x81: // REDUCE, NEWOBJ
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		tup, ok := args.(pyTuple)
		if !ok {
			return fmt.Errorf("call arguments are %T, want a tuple", args)
		}
		g, ok := fn.(pyGlobal)
		if !ok {
			return fmt.Errorf("call of %T", fn)
		}
		v, err := reduce(g, tup)
		if err != nil {
			return err
		}
		u.push(v)
	default:
		return errors.New("unsupported pickle opcode")
	}
	return nil
}

// decodeLong decodes a little-endian two's-complement integer (LONG1).
func decodeLong(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if !v.IsInt64() {
		return 0, errors.New("integer does not fit in int64")
	}
	return v.Int64(), nil
}

// storageFromPID decodes ("storage", torch.XStorage, key, location, numel).
func storageFromPID(pid any) (torchStorage, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) < 5 {
		return torchStorage{}, fmt.Errorf("persistent id %v: want a 5-tuple", pid)
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return torchStorage{}, fmt.Errorf("persistent id tag %v, want \"storage\"", t[0])
	}
	g, ok := t[1].(pyGlobal)
	if !ok {
		return torchStorage{}, fmt.Errorf("storage type %v", t[1])
	}
	dtype, ok := torchStorageDTypes[g.name]
	if !ok {
		return torchStorage{}, fmt.Errorf("storage type %s.%s is not supported", g.module, g.name)
	}
	key, ok1 := t[2].(string)
	numel, ok2 := t[4].(int64)
	if !ok1 || !ok2 {
		return torchStorage{}, fmt.Errorf("persistent id %v: bad key or size", pid)
	}
	return torchStorage{dtype: dtype, key: key, numel: numel}, nil
}

// reduce applies the few constructors torch.save uses; others become opaque.
func reduce(g pyGlobal, args pyTuple) (any, error) {
	switch g {
	case pyGlobal{"collections", "OrderedDict"}, pyGlobal{"builtins", "dict"}:
		return newPyDict(), nil
	case pyGlobal{"torch._utils", "_rebuild_tensor_v2"}, pyGlobal{"torch._utils", "_rebuild_tensor"}:
		if len(args) < 4 {
			return nil, fmt.Errorf("%s with %d arguments", g.name, len(args))
		}
		s, ok := args[0].(torchStorage)
		if !ok {
			return nil, fmt.Errorf("%s: first argument %T is not a storage", g.name, args[0])
		}
		off, ok := args[1].(int64)
		if !ok {
			return nil, fmt.Errorf("%s: bad storage offset", g.name)
		}
		size, err1 := int64s(args[2])
		stride, err2 := int64s(args[3])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad size or stride", g.name)
		}
		return torchTensor{storage: s, offset: off, size: size, stride: stride}, nil
	case pyGlobal{"torch._utils", "_rebuild_parameter"}, pyGlobal{"torch._utils", "_rebuild_parameter_with_state"}:
		if len(args) < 1 {
			return nil, errors.New("_rebuild_parameter without data")
		}
		return args[0], nil
	}
	return pyOpaque{of: g}, nil
}

func int64s(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%T is not a tuple", v)
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is %T", i, x)
		}
		out[i] = n
	}
	return out, nil
}
