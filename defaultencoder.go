package coorlogprocessor

import (
	"errors"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/encoder"
)

// loadDefaultEncoder opens the embedded default encoder.
func loadDefaultEncoder(encoder.Options) (model.Encoder, func() error, error) {
	return nil, nil, errors.New("the embedded default encoder is not in this build yet: set encoder.path to a BERT checkpoint directory")
}
