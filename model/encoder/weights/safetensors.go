package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// The safetensors format (huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// then the raw little-endian tensor bytes, offsets relative to the end of
// the header.

// maxSafetensorsHeader bounds the JSON header, as the reference
// implementation does (100 MB), so a corrupt length cannot make us allocate
// the moon.
const maxSafetensorsHeader = 100 << 20

type stEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// readSafetensors parses a whole safetensors file. It validates the header
// against the file size so that a truncated or corrupt file is an error, not
// a panic.
func readSafetensors(path string) (map[string]Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("%s: %d bytes, too short for a safetensors file", path, size)
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("%s: read header length: %w", path, err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen == 0 || hlen > maxSafetensorsHeader || int64(hlen) > size-8 {
		return nil, fmt.Errorf("%s: header length %d does not fit the file (%d bytes): truncated or not safetensors", path, hlen, size)
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(f, header); err != nil {
		return nil, fmt.Errorf("%s: read header: %w", path, err)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimRight(header, " \x00"), &entries); err != nil {
		return nil, fmt.Errorf("%s: header is not valid JSON: %w", path, err)
	}
	data := make([]byte, size-8-int64(hlen))
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: read data: %w", path, err)
	}
	out := make(map[string]Tensor, len(entries))
	for name, msg := range entries {
		if name == "__metadata__" {
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: bad header entry: %w", path, name, err)
		}
		if len(e.DataOffsets) != 2 {
			return nil, fmt.Errorf("%s: tensor %q: data_offsets must have 2 values", path, name)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin || end > int64(len(data)) {
			return nil, fmt.Errorf("%s: tensor %q: data_offsets [%d,%d] outside the %d data bytes: truncated file?", path, name, begin, end, len(data))
		}
		numel := int64(1)
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && numel > math.MaxInt64/d) {
				return nil, fmt.Errorf("%s: tensor %q: bad shape %v", path, name, e.Shape)
			}
			numel *= d
		}
		if sz := dtypeSize(e.DType); sz != 0 && numel*int64(sz) != end-begin {
			return nil, fmt.Errorf("%s: tensor %q: %s shape %v needs %d bytes, offsets give %d", path, name, e.DType, e.Shape, numel*int64(sz), end-begin)
		}
		out[name] = Tensor{DType: e.DType, Shape: e.Shape, Data: data[begin:end:end]}
	}
	return out, nil
}

// f32Tensor is a named float32 tensor to write.
type f32Tensor struct {
	Name  string
	Shape []int64
	Data  []float32
}

// writeSafetensors writes tensors as F32 in name order.
func writeSafetensors(w io.Writer, tensors []f32Tensor) error {
	sort.Slice(tensors, func(i, j int) bool { return tensors[i].Name < tensors[j].Name })
	header := make(map[string]any, len(tensors)+1)
	header["__metadata__"] = map[string]string{"format": "pt"}
	var off int64
	for _, t := range tensors {
		n := int64(len(t.Data)) * 4
		header[t.Name] = stEntry{DType: "F32", Shape: nonNilShape(t.Shape), DataOffsets: []int64{off, off + n}}
		off += n
	}
	hjson, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces so the data starts 8-byte aligned, as the
	// reference writer does.
	if pad := (8 - len(hjson)%8) % 8; pad > 0 {
		hjson = append(hjson, bytes.Repeat([]byte(" "), pad)...)
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hjson)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hjson); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, t := range tensors {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) >= 1<<16-4 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func nonNilShape(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}
