package coorlogprocessor

import (
	"fmt"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/defaultencoder"
	"github.com/coorlog/coorlogprocessor/model/encoder"
)

// loadDefaultEncoder opens the embedded default encoder (written once to a
// cache directory by model/defaultencoder).
func loadDefaultEncoder(opts encoder.Options) (model.Encoder, func() error, error) {
	e, err := defaultencoder.Load(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("loading the embedded default encoder: %w", err)
	}
	return e, e.Close, nil
}
