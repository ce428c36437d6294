package weights

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// pytorch_model.bin is written by torch.save (zip format, torch >= 1.6):
// <prefix>/data.pkl is a pickle of the state dict in which each tensor is
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...), and
// each storage is a persistent id ("storage", torch.FloatStorage, key,
// location, numel) whose bytes are the zip entry <prefix>/data/<key>.
//
// readTorchBin opens the archive, runs data.pkl through the pickle machine
// of pickle.go, and copies each tensor's view out of its storage entry.

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
func readTorchBin(path string) (map[string]Tensor, error) {
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
	out := map[string]Tensor{}
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
// into a contiguous row-major Tensor.
func (t torchTensor) materialise(storage []byte) (Tensor, error) {
	sz := int64(dtypeSize(t.storage.dtype))
	if len(t.size) != len(t.stride) {
		return Tensor{}, fmt.Errorf("size %v and stride %v differ in rank", t.size, t.stride)
	}
	// Bound every factor by 2^40 so that no product below can overflow.
	const lim = int64(1) << 40
	numel := int64(1)
	maxIdx := t.offset
	for i, d := range t.size {
		s := t.stride[i]
		if d < 0 || d > lim || s < 0 || s > lim || (d > 0 && numel > lim/d) || (d > 1 && s > 0 && d-1 > lim/s) {
			return Tensor{}, fmt.Errorf("bad size %v / stride %v", t.size, t.stride)
		}
		numel *= d
		if d > 0 {
			maxIdx += (d - 1) * s
		}
	}
	if t.offset < 0 || t.offset > lim || (numel > 0 && (maxIdx+1)*sz > int64(len(storage))) {
		return Tensor{}, fmt.Errorf("view (offset %d, size %v, stride %v) reaches past its storage of %d elements", t.offset, t.size, t.stride, int64(len(storage))/sz)
	}
	out := Tensor{DType: t.storage.dtype, Shape: append([]int64(nil), t.size...)}
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
