package smallmodel

import (
	"errors"
	"fmt"

	"github.com/coorlog/coorlogprocessor/model/internal/wire"
)

const memoryFormat = 1

// maxItemsDecoded bounds what Unmarshal accepts, against hostile headers.
const maxItemsDecoded = 10_000_000

// MarshalBinary encodes the memory: config, item metadata and text as JSON,
// vectors and projections as named float32 arrays.
func (m *Memory) MarshalBinary() ([]byte, error) {
	var w wire.Writer
	w.U32(memoryFormat)
	if err := w.JSON(m.cfg); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	w.U64(m.clock)
	w.U64(uint64(m.dim))
	if err := w.JSON(m.items); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	vecs := make([]float32, 0, len(m.items)*m.dim)
	for _, it := range m.items {
		vecs = append(vecs, it.Vec...)
	}
	w.Array("vectors", []int{len(m.items), m.dim}, vecs)
	w.Array("projections", []int{len(m.items), m.pdim}, m.proj)
	return w.Bytes(), nil
}

// UnmarshalMemory decodes a memory written by MarshalBinary and checks it
// against the small model it will be searched with.
func UnmarshalMemory(p []byte, small *Model) (*Memory, error) {
	r := wire.NewReader(p)
	if v := r.U32(); r.Err() == nil && v != memoryFormat {
		return nil, fmt.Errorf("memory: section format %d, this build reads %d", v, memoryFormat)
	}
	m := &Memory{}
	r.JSON(&m.cfg)
	m.clock = r.U64()
	dim := r.U64()
	r.JSON(&m.items)
	vs, vecs := r.Array("vectors")
	ps, proj := r.Array("projections")
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	if err := m.cfg.Validate(); err != nil {
		return nil, err
	}
	n := len(m.items)
	switch {
	case r.Remaining() != 0:
		return nil, fmt.Errorf("memory: %d trailing bytes", r.Remaining())
	case n > maxItemsDecoded:
		return nil, fmt.Errorf("memory: %d items", n)
	case dim != uint64(small.Dim()):
		return nil, fmt.Errorf("memory: vectors of width %d, small model takes %d", dim, small.Dim())
	case len(vs) != 2 || vs[0] != n || vs[1] != int(dim):
		return nil, fmt.Errorf("memory: vectors of shape %v for %d items of width %d", vs, n, dim)
	case len(ps) != 2 || ps[0] != n || ps[1] != small.ProjDim():
		return nil, fmt.Errorf("memory: projections of shape %v for %d items of width %d", ps, n, small.ProjDim())
	}
	m.dim, m.pdim, m.proj = int(dim), small.ProjDim(), proj
	m.index = make(map[itemKey]int, n)
	for i := range m.items {
		it := &m.items[i]
		if it.Label != 0 && it.Label != 1 {
			return nil, fmt.Errorf("memory: item %d has label %d", i, it.Label)
		}
		if it.Count < 1 {
			return nil, fmt.Errorf("memory: item %d has count %d", i, it.Count)
		}
		k := keyOf(it)
		if _, dup := m.index[k]; dup {
			return nil, errors.New("memory: duplicate item key")
		}
		m.index[k] = i
		it.Vec = vecs[i*m.dim : (i+1)*m.dim : (i+1)*m.dim]
	}
	m.indexOperators()
	m.pool = newPool(n)
	return m, nil
}
