package main

import (
	"context"
	"errors"
	"io"
)

func runPretrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("pretrain is not available in this build yet")
}
