package coordinator

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/coorlog/coorlogprocessor/model/internal/mlp"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/internal/wire"
)

// formatVersion of the coordinator section: 2 adds the held-out sessions
// after the weights; format 1 (without them) is still read.
const formatVersion = 2

// MarshalBinary encodes the model: config, statistics, tau, validation
// errors, weights and held-out sessions as named float32 arrays.
func (m *Model) MarshalBinary() ([]byte, error) {
	var w wire.Writer
	w.U32(formatVersion)
	if err := w.JSON(m.cfg); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	w.F64(m.tau)
	w.Array("mean", []int{len(m.mean)}, m.mean)
	w.Array("std", []int{len(m.std)}, m.std)
	w.Array("valid_errors", []int{len(m.validErrs)}, m.validErrs)
	m.net.Encode(&w, "autoencoder")
	held := make([]float32, 0, len(m.held)*m.Dim())
	for _, v := range m.held {
		held = append(held, v...)
	}
	w.Array("held_out", []int{len(m.held), m.Dim()}, held)
	return w.Bytes(), nil
}

// Unmarshal decodes a model written by MarshalBinary, checking that its parts
// fit together.
func Unmarshal(p []byte) (*Model, error) {
	r := wire.NewReader(p)
	version := r.U32()
	if r.Err() == nil && version != 1 && version != formatVersion {
		return nil, fmt.Errorf("coordinator: section format %d, this build reads 1 and %d", version, formatVersion)
	}
	m := &Model{}
	r.JSON(&m.cfg)
	m.tau = r.F64()
	_, m.mean = r.Array("mean")
	_, m.std = r.Array("std")
	_, m.validErrs = r.Array("valid_errors")
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	net, err := mlp.Decode(r, "autoencoder")
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	m.net = net
	dim := len(m.mean)
	if version >= 2 {
		hs, held := r.Array("held_out")
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("coordinator: %w", err)
		}
		if len(hs) != 2 || hs[1] != dim || hs[0] > maxHeld || (hs[0] > 0) != (len(held) > 0) {
			return nil, fmt.Errorf("coordinator: held-out sessions of shape %v for width %d", hs, dim)
		}
		for i := range hs[0] {
			v := held[i*dim : (i+1)*dim : (i+1)*dim]
			if !vec.Finite(v) {
				return nil, fmt.Errorf("coordinator: held-out session %d is not finite", i)
			}
			m.held = append(m.held, v)
		}
	}
	switch {
	case dim == 0 || len(m.std) != dim:
		return nil, fmt.Errorf("coordinator: statistics of width %d and %d", dim, len(m.std))
	case net.InDim() != dim || net.OutDim() != dim:
		return nil, fmt.Errorf("coordinator: autoencoder %v does not map width %d to itself", net.Dims(), dim)
	case math.IsNaN(m.tau):
		return nil, errors.New("coordinator: tau is NaN")
	case r.Remaining() != 0:
		return nil, fmt.Errorf("coordinator: %d trailing bytes", r.Remaining())
	}
	for _, s := range m.std {
		if !(s > 0) {
			return nil, errors.New("coordinator: non-positive standard deviation")
		}
	}
	if !slices.IsSorted(m.validErrs) {
		return nil, errors.New("coordinator: validation errors not sorted")
	}
	return m, nil
}
